"""`kedro run --pipeline=training --env=real`: training on the embedded real DefiLlama slice."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import PROJECT_ROOT
from yield_runway.models.metrics import classification_metrics

REAL = "data/real_lending"


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """The project's own conf and real raw files in a scratch root, trained once in `real`."""
    root = tmp_path_factory.mktemp("real_project")
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir()
    shutil.copytree(PROJECT_ROOT / REAL / "01_raw", root / REAL / "01_raw")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        bootstrap_project(root)
        with KedroSession.create(project_path=root, env="real") as session:
            session.run(pipeline_names=["training"])
    return root


def test_real_env_reads_the_real_slice_and_writes_under_its_own_root(real_run):
    root = real_run
    cleaning = json.loads((root / REAL / "08_reporting/cleaning_report.json").read_text())
    assert cleaning["rows_raw"] == 30412
    daily = pd.read_parquet(root / REAL / "03_primary/pools_daily.parquet")
    assert daily["pool"].nunique() == 161 and daily["project"].str.contains("aave").any()
    # Nothing of the sample's layout is written by the real env.
    assert not (root / "data/08_reporting").exists()


def test_real_metrics_are_honest_and_recomputable(real_run):
    root = real_run / REAL
    metrics = json.loads((root / "08_reporting/metrics.json").read_text())
    models = metrics["models"]
    # Baselines stay in the table beside the learners and the published model.
    for name in ("majority_class", "rule_persistence", "rule_apy", "rule_market_rank"):
        assert name in models
    assert metrics["champion"] in metrics["calibration"] and "champion_calibrated" in models
    # Purged and out of time: development ends at least the horizon before the holdout.
    splits = metrics["splits"]
    gap = pd.Timestamp(splits["holdout_start"]) - pd.Timestamp(splits["development_end"])
    assert gap.days > metrics["target"]["horizon_days"]
    holdout = pd.read_parquet(root / "08_reporting/holdout_predictions.parquet")
    assert (holdout["date"] >= pd.Timestamp(splits["holdout_start"])).all()
    published = classification_metrics(
        holdout["target"],
        holdout["score_champion_calibrated"],
        10,
        metrics["development_positive_rate"],
    )
    for key in ("roc_auc", "brier", "ece", "brier_skill"):
        assert published[key] == pytest.approx(models["champion_calibrated"]["holdout"][key])
    # A real signal, far from a leak: the champion ranks better than chance, below 0.9.
    assert 0.6 < models[metrics["champion"]]["holdout"]["roc_auc"] < 0.9
    reliability = models["champion_calibrated"]["reliability"]["holdout"]
    assert sum(row["n"] for row in reliability) == len(holdout)
    assert np.isclose(
        sum(row["n"] * row["mean_prediction"] for row in reliability) / len(holdout),
        holdout["score_champion_calibrated"].mean(),
    )


def test_backtest_runs_on_the_real_set(real_run):
    """`kedro run --pipeline=backtest --env=real` on the trained real slice."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(real_run)
        bootstrap_project(real_run)
        with KedroSession.create(project_path=real_run, env="real") as session:
            session.run(pipeline_names=["backtest"])
    root = real_run / REAL
    table = pd.read_csv(root / "08_reporting/backtest/backtest_table.csv")
    assert len(table) == 7 and table["annualised_return"].notna().all()
    positions = pd.read_parquet(root / "07_model_output/backtest/positions.parquet")
    splits = json.loads((root / "05_model_input/evaluation_splits.json").read_text())
    assert (
        positions["date"] > positions["train_end"] + pd.Timedelta(days=splits["purge_days"])
    ).all()
    forecast = json.loads((root / "08_reporting/backtest/apy_forecast_metrics.json").read_text())
    assert forecast["holdout"]["rows"] == splits["holdout_rows"]
