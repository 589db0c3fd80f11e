"""`kedro run --pipeline=backtest` on a small trained project: outputs, and no score seen early."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import load_parameters
from yield_runway.pipelines.backtest.nodes import rebalance_dates


@pytest.fixture(scope="module")
def backtested(trained_small_project, tmp_path_factory):
    """A copy of the small trained project, backtested (its pools are all below the TVL floor)."""
    root = tmp_path_factory.mktemp("backtest") / "project"
    shutil.copytree(trained_small_project, root)
    backtest = load_parameters()["backtest"]
    backtest["universe"] = {**backtest["universe"], "min_tvl_usd": 0}
    local = root / "conf" / "local" / "parameters_backtest.yml"
    local.write_text(yaml.safe_dump({"backtest": backtest}))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        bootstrap_project(root)
        with KedroSession.create(project_path=root) as session:
            session.run(pipeline_names=["backtest"])
    return root / "data"


def test_backtest_writes_every_strategy_with_a_ci(backtested):
    table = pd.read_csv(backtested / "08_reporting/backtest/backtest_table.csv")
    strategies = [
        "highest_apy",
        "tvl_weighted",
        "runway_filter",
        "runway_weighted",
        "forecast_weighted",
        "optimiser",
        "optimiser_runway",
    ]
    assert table["strategy"].tolist() == strategies
    # Each runway strategy is also set against the same rule without P(Stable/Up).
    twins = table.set_index("strategy")
    assert twins["twin"].fillna("").to_dict() == {
        **dict.fromkeys(strategies, ""),
        "runway_filter": "highest_apy",
        "runway_weighted": "forecast_weighted",
        "optimiser_runway": "optimiser",
    }
    paired = twins.loc[twins["twin"].fillna("") != ""]
    assert (paired["twin_ci_low"] <= paired["excess_vs_twin"]).all()
    assert (paired["excess_vs_twin"] <= paired["twin_ci_high"]).all()
    others = table.loc[table["strategy"] != "highest_apy"]
    assert (others["excess_ci_low"] <= others["excess_vs_highest_apy"]).all()
    assert (others["excess_vs_highest_apy"] <= others["excess_ci_high"]).all()
    summary = json.loads((backtested / "08_reporting/backtest/backtest_summary.json").read_text())
    assert summary["rebalances"] > 3
    for name in ("backtest_equity.png", "backtest_drawdown.png", "backtest_report.md"):
        assert (backtested / "08_reporting/backtest" / name).stat().st_size > 0
    forecast = json.loads(
        (backtested / "08_reporting/backtest/apy_forecast_metrics.json").read_text()
    )
    assert {"forecast", "persistence", "mean_30d"} <= set(forecast["all"])


def test_no_position_rests_on_a_score_whose_model_saw_its_day(backtested):
    splits = json.loads((backtested / "05_model_input/evaluation_splits.json").read_text())
    positions = pd.read_parquet(backtested / "07_model_output/backtest/positions.parquet")
    assert not positions.empty and positions["window"].notna().all()
    purge = pd.Timedelta(days=splits["purge_days"])
    # Every score behind a position came from a model whose training labels ended before its day.
    assert (positions["date"] > positions["train_end"] + purge).all()
    # So did every APY forecast the strategies ranked by.
    forecasts = pd.read_parquet(backtested / "07_model_output/backtest/apy_forecasts.parquet")
    assert (forecasts["date"] > forecasts["train_end"] + purge).all()
    starts = {f"fold_{f['fold']}": f["validation_start"] for f in splits["folds"]}
    starts["holdout"] = splits["holdout_start"]
    assert (positions["date"] >= pd.to_datetime(positions["window"].map(starts))).all()
    # The accounting keeps every day to the last scored one; trades happen on scored days only.
    daily = pd.read_parquet(backtested / "07_model_output/backtest/daily.parquet")
    scores = pd.read_parquet(backtested / "07_model_output/backtest/scores.parquet")
    assert daily["date"].max() == scores["date"].max()
    traded = daily.loc[daily["rebalance"], "date"]
    assert traded.isin(scores["date"]).all()


def test_rebalance_dates_hold_through_unscored_days():
    dates = pd.Series(pd.to_datetime(["2025-01-01", "2025-01-03", "2025-01-08", "2025-02-20"]))
    assert rebalance_dates(dates, 7) == list(
        pd.to_datetime(["2025-01-01", "2025-01-08", "2025-02-20"])
    )
