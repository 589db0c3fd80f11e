"""The scheduled run against a local S3 server, and the handler from a read-only package copy."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import boto3
import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT
from tests.serving.events import Context, api_event, schedule_event, upload_tree
from yield_runway.serving import lambda_handler

BUCKET, PREFIX = "yield-runway-test", "prod"


@pytest.fixture
def s3_artefacts(s3_server, trained_small_project, monkeypatch):
    s3 = boto3.client("s3", endpoint_url=s3_server)
    s3.create_bucket(Bucket=BUCKET)
    upload_tree(s3, BUCKET, PREFIX, trained_small_project / "data")
    monkeypatch.setenv("YIELD_RUNWAY_BUCKET", BUCKET)
    monkeypatch.setenv("YIELD_RUNWAY_PREFIX", PREFIX)
    monkeypatch.delenv("YIELD_RUNWAY_DATA_URI", raising=False)
    monkeypatch.setattr(lambda_handler, "_store", None)
    last_day = pd.read_parquet(trained_small_project / "data/03_primary/pools_daily.parquet")
    return s3, last_day["date"].max()


def _state(s3) -> pd.DataFrame:
    body = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/04_feature/feature_state.parquet")["Body"]
    return pd.read_parquet(io.BytesIO(body.read()))


def test_scheduled_event_runs_inference_on_s3(
    s3_artefacts, trained_small_project, tmp_path, monkeypatch
):
    s3, last_day = s3_artefacts
    monkeypatch.setenv("YIELD_RUNWAY_CONF_SOURCE", str(trained_small_project / "conf"))
    monkeypatch.setenv("YIELD_RUNWAY_PROJECT_PATH", str(tmp_path))
    before = _state(s3)
    at = (last_day + pd.Timedelta(days=1, hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    summary = lambda_handler.handler(schedule_event(at), Context())
    n_pools = len(
        json.loads((trained_small_project / "data/01_raw/pools_snapshot.json").read_text())
    )
    assert summary["pools_scored"] + summary["pools_nulled"] == n_pools
    assert summary["pools_scored"] > 0 and summary["seconds"] > 0
    key = f"{PREFIX}/07_model_output/hourly_predictions/{pd.Timestamp(at):%Y-%m-%dT%H}.parquet"
    table = pd.read_parquet(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))
    assert len(table) == n_pools
    latest = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/07_model_output/dataEnriched_latest.json")
    assert len(json.loads(latest["Body"].read())) == n_pools
    # Monitoring ran after inference, on the stored run, and wrote its reports to S3.
    assert summary["monitoring"]["status"] == "ok"
    assert summary["monitoring"]["alert"] in {"no_flag", "not_configured"}
    drift_key = f"{PREFIX}/08_reporting/monitoring/drift_summary.json"
    drift = json.loads(s3.get_object(Bucket=BUCKET, Key=drift_key)["Body"].read())
    assert drift["n_current"] == n_pools
    assert drift["drift_flagged"] == summary["monitoring"]["drift_flagged"]
    after = _state(s3)
    assert (after["pending_date"] == pd.Timestamp(at).tz_localize(None).floor("D")).all()
    assert not after.equals(before)
    # The HTTP API reads the same bucket (data root derived from bucket and prefix).
    result = lambda_handler.handler(api_event("/predictions", [_legacy_row()]), Context())
    assert result["statusCode"] == 200


def _legacy_row() -> dict:
    return {
        "apy": 4.0,
        "tvlUsd": 1e6,
        "apyMeanExpanding": 4.0,
        "apyStdExpanding": 1.0,
        "chain_factorized": 0,
        "project_factorized": 0,
    }


def _tree(root: Path) -> dict[str, tuple[int, float]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime) for p in root.rglob("*")}


def test_handler_runs_from_a_read_only_package_copy(s3_artefacts, trained_small_project, tmp_path):
    s3, last_day = s3_artefacts
    task_root = tmp_path / "var_task"  # like Lambda's /var/task: code, conf, local artefacts
    shutil.copytree(
        PROJECT_ROOT / "src" / "yield_runway",
        task_root / "yield_runway",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copytree(trained_small_project / "conf", task_root / "conf")
    writable = tmp_path / "tmp"
    writable.mkdir()
    for path in [task_root, *task_root.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    at = (last_day + pd.Timedelta(days=1, hours=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    script = (
        "import json, sys, yield_runway\n"
        f"assert yield_runway.__file__.startswith({str(task_root)!r}), yield_runway.__file__\n"
        "from yield_runway.serving.lambda_handler import handler\n"
        "from tests.serving.events import Context, api_event, schedule_event\n"
        f"summary = handler(schedule_event({at!r}), Context())\n"
        f"api = handler(api_event('/predictions', [{_legacy_row()!r}]), Context())\n"
        "print(json.dumps({'summary': summary, 'status': api['statusCode']}))\n"
    )
    before = _tree(task_root)
    env = {
        **os.environ,
        "PYTHONPATH": f"{task_root}{os.pathsep}{PROJECT_ROOT}",
        "LAMBDA_TASK_ROOT": str(task_root),
        "HOME": str(writable),
        "TMPDIR": str(writable),
        # Lambda's /var/task is read-only, so Python cannot cache bytecode there; as root here
        # (which ignores permission bits) we forbid it explicitly and check nothing was written.
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for name in (
        "YIELD_RUNWAY_CONF_SOURCE",
        "YIELD_RUNWAY_PROJECT_PATH",
        "MPLCONFIGDIR",
        "KEDRO_LOGGING_CONFIG",
    ):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=task_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["status"] == 200 and result["summary"]["pools_scored"] > 0
        assert _tree(task_root) == before
    finally:
        for path in [task_root, *task_root.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_a_monitoring_failure_does_not_fail_the_hourly_run(
    s3_artefacts, trained_small_project, tmp_path, monkeypatch
):
    s3, last_day = s3_artefacts
    monkeypatch.setenv("YIELD_RUNWAY_CONF_SOURCE", str(trained_small_project / "conf"))
    monkeypatch.setenv("YIELD_RUNWAY_PROJECT_PATH", str(tmp_path))
    # Without its training reference, monitoring cannot run; the predictions must still land.
    s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/06_models/feature_reference.json")
    at = (last_day + pd.Timedelta(days=1, hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    summary = lambda_handler.handler(schedule_event(at), Context())
    assert summary["pools_scored"] > 0
    assert summary["monitoring"]["status"] == "failed"
    key = f"{PREFIX}/07_model_output/hourly_predictions/{pd.Timestamp(at):%Y-%m-%dT%H}.parquet"
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] > 0


def test_a_stale_scheduled_event_is_skipped_not_retried(monkeypatch):
    from yield_runway.features.state import StaleRunError
    from yield_runway.serving import scheduled

    def stale(event, config):
        raise StaleRunError("3 pools already hold a run later than 2025-11-01T01:05:00+00:00")

    monkeypatch.setattr(scheduled, "run_inference", stale)
    monitoring = []
    monkeypatch.setattr(scheduled, "run_monitoring", lambda config: monitoring.append(config))
    summary = scheduled.run_scheduled({"time": "2025-11-01T01:05:00Z"}, config=None)
    assert summary["status"] == "skipped_stale" and "later than" in summary["reason"]
    assert monitoring == []  # nothing new to monitor


def test_a_scheduled_run_without_the_bucket_names_the_missing_variables(monkeypatch):
    from yield_runway.serving import scheduled
    from yield_runway.serving.config import ServingConfig

    monkeypatch.delenv("YIELD_RUNWAY_BUCKET", raising=False)
    monkeypatch.setenv("YIELD_RUNWAY_PREFIX", "prod")
    config = ServingConfig("data", "conf", ".", "aws", 50_000, 60.0, 1)
    with pytest.raises(RuntimeError, match=r"set YIELD_RUNWAY_BUCKET$"):
        scheduled.run_inference({"time": "2025-11-01T01:05:00Z"}, config)
