"""The Lambda image, run: its runtime client answers a schedule event and API requests through a
Runtime API on 127.0.0.1, against a local S3 server.

Needs podman and the image (`deploy/build.sh` builds both the image and what it installs);
skipped, saying so, where either is missing.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest

from tests.serving.events import Context, api_event, schedule_event, upload_tree
from tests.serving.runtime_api import RuntimeAPI

IMAGE = os.environ.get("YIELD_RUNWAY_IMAGE", "yield-runway:latest")
ROOT = os.environ.get("PODMAN_ROOT", "/tmp/yield-runway-podman")
PODMAN = ["podman", "--root", f"{ROOT}/storage", "--runroot", f"{ROOT}/run"]
BUCKET, PREFIX = "yield-runway-image", "prod"
LEGACY_ROWS = [
    {"apy": 4.8, "tvlUsd": 3.9e5, "apyMeanExpanding": 7.3, "apyStdExpanding": 7.4,
     "chain_factorized": 2, "project_factorized": 1},
    {"apy": 3.0, "tvlUsd": 1.2e7, "apyMeanExpanding": 3.1, "apyStdExpanding": 0.4,
     "chain_factorized": 0, "project_factorized": 0},
]  # fmt: skip


PROJECT = Path(__file__).resolve().parents[2]


def _image_problem() -> str | None:
    """Why the image cannot be tested here (no podman, no image, an image of older code)."""
    if shutil.which("podman") is None:
        return "podman is not installed"
    env = {**os.environ, "CONTAINERS_CONF": f"{ROOT}/containers.conf"}
    label = subprocess.run(
        [*PODMAN, "image", "inspect", "--format", '{{index .Labels "yield-runway.source"}}', IMAGE],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if label.returncode != 0:
        return f"the image {IMAGE} is missing"
    source = subprocess.run(
        [str(PROJECT / "deploy/source_hash.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()
    if label.stdout.strip() != source:
        return f"the image {IMAGE} was built from other code than this tree's"
    return None


PROBLEM = _image_problem()
pytestmark = pytest.mark.skipif(PROBLEM is not None, reason=f"{PROBLEM}: run deploy/build.sh")


def test_the_image_serves_the_schedule_and_the_api(s3_server, trained_small_project, monkeypatch):
    s3 = boto3.client("s3", endpoint_url=s3_server)
    s3.create_bucket(Bucket=BUCKET)
    upload_tree(s3, BUCKET, PREFIX, trained_small_project / "data")
    npz_key = f"{PREFIX}/04_feature/feature_state.npz"
    uploaded = s3.head_object(Bucket=BUCKET, Key=npz_key)["ETag"]
    last_day = pd.read_parquet(trained_small_project / "data/03_primary/pools_daily.parquet")
    at = (last_day["date"].max() + pd.Timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = [
        schedule_event(at),
        api_event("/predictions", LEGACY_ROWS),
        api_event("/predictions", None, raw="{not json"),
    ]
    env = {**os.environ, "CONTAINERS_CONF": f"{ROOT}/containers.conf"}
    with RuntimeAPI(events) as api:
        # As Lambda runs it: read-only root, a writable /tmp, the Runtime API's address.
        command = [
            *PODMAN, "run", "--rm", "--network=host", "--read-only", "--tmpfs", "/tmp",
            "-e", f"AWS_LAMBDA_RUNTIME_API={api.address}",
            "-e", f"AWS_ENDPOINT_URL_S3={s3_server}",
            "-e", "AWS_ACCESS_KEY_ID=testing", "-e", "AWS_SECRET_ACCESS_KEY=testing",
            "-e", "AWS_DEFAULT_REGION=us-east-1",
            "-e", f"YIELD_RUNWAY_BUCKET={BUCKET}", "-e", f"YIELD_RUNWAY_PREFIX={PREFIX}",
            IMAGE,
        ]  # fmt: skip
        container = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            kind, summary = api.result(0, timeout=300)
            legacy = api.result(1, timeout=60)
            bad = api.result(2, timeout=60)
        finally:
            container.kill()
            log = container.communicate(timeout=60)[0]
    assert kind == "response", log[-3000:]
    assert summary["pools_scored"] > 0 and summary["monitoring"]["status"] == "ok", summary
    key = f"{PREFIX}/07_model_output/hourly_predictions/{pd.Timestamp(at):%Y-%m-%dT%H}.parquet"
    table = pd.read_parquet(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))
    assert int(table["served"].sum()) == summary["pools_scored"]
    # The run republished the API's copy of its committed state: today's pools are pending.
    stored = s3.get_object(Bucket=BUCKET, Key=npz_key)
    assert stored["ETag"] != uploaded
    with np.load(io.BytesIO(stored["Body"].read()), allow_pickle=False) as npz:
        pending = dict(zip(npz["pool"], npz["pending_date"], strict=True))
    today = np.datetime64(pd.Timestamp(at).tz_convert(None).floor("D"), "us")
    assert {pending[p] for p in table.loc[table["served"], "pool"]} == {today}
    # The API answers in the image as it does here, from the same S3 release.
    monkeypatch.setenv("YIELD_RUNWAY_BUCKET", BUCKET)
    monkeypatch.setenv("YIELD_RUNWAY_PREFIX", PREFIX)
    monkeypatch.delenv("YIELD_RUNWAY_DATA_URI", raising=False)
    from yield_runway.serving import lambda_handler

    monkeypatch.setattr(lambda_handler, "_store", None)
    here = lambda_handler.handler(api_event("/predictions", LEGACY_ROWS), Context())
    assert legacy[0] == "response" and legacy[1]["statusCode"] == 200
    assert json.loads(legacy[1]["body"]) == json.loads(here["body"])
    assert bad[0] == "response" and bad[1]["statusCode"] == 400
