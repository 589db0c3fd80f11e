"""`--env=spark`: the same data_engineering definition on PySpark (local mode) writes what the
default engine writes, on the embedded sample."""

from __future__ import annotations

import json
import shutil

import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import PROJECT_ROOT, write_small_conf


def test_the_spark_env_equals_the_default_engine_on_the_sample(tmp_path, monkeypatch):
    root = write_small_conf(tmp_path)
    shutil.copytree(
        PROJECT_ROOT / "data/01_raw", root / "data/01_raw", ignore=shutil.ignore_patterns("live")
    )
    monkeypatch.chdir(root)
    bootstrap_project(root)
    for env in (None, "spark"):
        with KedroSession.create(project_path=root, env=env) as session:
            session.run(pipeline_names=["data_engineering"])
    default, spark = root / "data", root / "data/spark"
    # Spark writes a folder of part files; pandas reads it as one table, in order.
    assert (spark / "03_primary/pools_daily.parquet").is_dir()
    ours = pd.read_parquet(spark / "03_primary/pools_daily.parquet")
    theirs = pd.read_parquet(default / "03_primary/pools_daily.parquet")
    assert len(theirs) > 50_000 and theirs["observed"].sum() > 50_000
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)
    for name in ("08_reporting/cleaning_report.json", "06_models/observation_limits.json"):
        assert json.loads((spark / name).read_text()) == json.loads((default / name).read_text())
