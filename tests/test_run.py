"""End-to-end `training` runs through KedroSession: on a local sample and from S3."""

from __future__ import annotations

import json

import boto3
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import make_raw_history, make_snapshot, write_small_project

ARTEFACTS = [
    "data/06_models/feature_list.json",
    "data/06_models/categorical_mapping.json",
    "data/06_models/feature_reference.json",
    "data/08_reporting/metrics.json",
    "data/08_reporting/holdout_predictions.parquet",
    "data/08_reporting/roc_curves.png",
    "data/08_reporting/calibration_curve.png",
    "data/08_reporting/feature_importance.png",
    "data/08_reporting/cleaning_report.json",
]


@pytest.fixture
def small_project(tmp_path, monkeypatch):
    raw = make_raw_history(n_pools=10, n_days=190, seed=5)
    root = write_small_project(tmp_path, raw, make_snapshot(raw))
    monkeypatch.chdir(root)
    bootstrap_project(root)
    return root, raw


def test_training_session_writes_every_artefact(small_project):
    root, _ = small_project
    with KedroSession.create(project_path=root) as session:
        session.run(pipeline_names=["training"])
    for path in ARTEFACTS:
        assert (root / path).stat().st_size > 0, path
    # The model is versioned: one timestamped folder per run.
    versions = list((root / "data/06_models/champion_model.joblib").iterdir())
    assert len(versions) == 1 and (versions[0] / "champion_model.joblib").exists()
    metrics = json.loads((root / "data/08_reporting/metrics.json").read_text())
    holdout = pd.read_parquet(root / "data/08_reporting/holdout_predictions.parquet")
    assert metrics["splits"]["holdout_rows"] == len(holdout)
    assert metrics["champion"] in metrics["models"]


def test_s3_env_reads_the_public_bucket_anonymously(small_project, s3_server, monkeypatch):
    root, raw = small_project
    s3 = boto3.client("s3", endpoint_url=s3_server)
    s3.create_bucket(Bucket="defillama-datasets")
    # Like DefiLlama's bucket: public reads, so unsigned (anonymous) requests succeed.
    public_read = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [
                    "arn:aws:s3:::defillama-datasets",
                    "arn:aws:s3:::defillama-datasets/*",
                ],
            }
        ],
    }
    s3.put_bucket_policy(Bucket="defillama-datasets", Policy=json.dumps(public_read))
    s3.put_object(
        Bucket="defillama-datasets",
        Key="yield-ml/pools_2022_05_20.csv",
        Body=raw.to_csv(index=False).encode(),
        ACL="public-read",
    )
    s3.put_object(
        Bucket="defillama-datasets",
        Key="yield-ml/dataEnriched_2022_05_20.json",
        Body=json.dumps(make_snapshot(raw)).encode(),
        ACL="public-read",
    )
    # The engine reads the bucket itself: pointed at the local server by the env's variables.
    host = s3_server.removeprefix("http://")
    for name, value in {"S3_ENDPOINT": host, "S3_URL_STYLE": "path", "S3_USE_SSL": "false"}.items():
        monkeypatch.setenv(name, value)
    with KedroSession.create(project_path=root, env="s3") as session:
        catalog = session.load_context().catalog
        snapshot = catalog["pools_snapshot"]
        assert snapshot._protocol == "s3" and snapshot._fs.anon is True
        history = catalog.load("pools_history@ibis").to_pandas()  # the engine's view, read here
        assert len(history) == len(raw) and history["pool"].nunique() == 10
        session.run(pipeline_names=["data_engineering"])
    report = json.loads((root / "data/s3/08_reporting/cleaning_report.json").read_text())
    assert report["rows_raw"] == len(raw) and report["pools"] == 10
