"""Serving configuration from the environment (Lambda sets it; see deploy/serverless.yml)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_ROWS = 50_000
DEFAULT_TTL_SECONDS = 60.0
DEFAULT_MODEL_THREADS = 1


@dataclass(frozen=True)
class ServingConfig:
    """Where the artefacts, conf and project are, and the request limits."""

    data_uri: str
    conf_source: str
    project_path: str
    kedro_env: str
    max_rows: int
    artefact_ttl_seconds: float
    model_threads: int


def _data_uri() -> str:
    """The data root: YIELD_RUNWAY_DATA_URI, else s3://$YIELD_RUNWAY_BUCKET/$YIELD_RUNWAY_PREFIX."""
    explicit = os.environ.get("YIELD_RUNWAY_DATA_URI")
    if explicit:
        return explicit.rstrip("/")
    bucket = os.environ.get("YIELD_RUNWAY_BUCKET")
    if bucket:
        prefix = os.environ.get("YIELD_RUNWAY_PREFIX", "").strip("/")
        return f"s3://{bucket}/{prefix}".rstrip("/")
    return str(Path.cwd() / "data")


def conf_source() -> str:
    """The packaged conf: YIELD_RUNWAY_CONF_SOURCE, else $LAMBDA_TASK_ROOT/conf, else ./conf."""
    explicit = os.environ.get("YIELD_RUNWAY_CONF_SOURCE")
    if explicit:
        return explicit
    task_root = os.environ.get("LAMBDA_TASK_ROOT")
    return str(Path(task_root) / "conf") if task_root else str(Path.cwd() / "conf")


def load_config() -> ServingConfig:
    """Read the serving configuration from the environment."""
    return ServingConfig(
        data_uri=_data_uri(),
        conf_source=conf_source(),
        # Kedro wants a project path; on Lambda only /tmp is writable (nothing is written there
        # by the aws env, whose datasets are all on S3).
        project_path=os.environ.get("YIELD_RUNWAY_PROJECT_PATH", os.environ.get("TMPDIR", "/tmp")),
        kedro_env=os.environ.get("YIELD_RUNWAY_KEDRO_ENV", "aws"),
        max_rows=int(os.environ.get("YIELD_RUNWAY_MAX_ROWS", DEFAULT_MAX_ROWS)),
        artefact_ttl_seconds=float(
            os.environ.get("YIELD_RUNWAY_ARTEFACT_TTL_SECONDS", DEFAULT_TTL_SECONDS)
        ),
        # Scoring threads per request (Lambda has one or two vCPUs; 0 = all cores).
        model_threads=int(os.environ.get("YIELD_RUNWAY_MODEL_THREADS", DEFAULT_MODEL_THREADS)),
    )
