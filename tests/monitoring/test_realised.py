"""Realised performance: outcome grid from stored runs, labels, AUC with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import load_parameters
from yield_runway.monitoring.realised import (
    calibration_table,
    daily_grid,
    last_run_per_pool_day,
    matured_predictions,
    performance_summary,
    performance_table,
)

PARAMS = {"rolling_window_days": 3, "calibration_bins": 10, "min_auc": 0.6, "min_rows": 4}
DAY = pd.Timestamp("2025-03-01")


def _matured(y, p, days=None) -> pd.DataFrame:
    days = days if days is not None else [0] * len(y)
    return pd.DataFrame(
        {
            "pool": [f"p{i}" for i in range(len(y))],
            "date": [DAY + pd.Timedelta(days=d) for d in days],
            "p_stable_up": np.asarray(p, dtype=float),
            "target": np.asarray(y, dtype="int8"),
        }
    )


def _day(table: pd.DataFrame, scope: str, offset: int) -> pd.Series:
    rows = table.loc[(table["scope"] == scope) & (table["date"] == DAY + pd.Timedelta(days=offset))]
    return rows.iloc[0]


def test_known_auc_answers():
    y = [1, 1, 0, 0]
    perfect = performance_table(_matured(y, [0.9, 0.8, 0.2, 0.1]), PARAMS)
    assert _day(perfect, "day", 0)["roc_auc"] == 1.0
    constant = performance_table(_matured(y, [0.7] * 4), PARAMS)
    assert _day(constant, "day", 0)["roc_auc"] == 0.5
    # Hand-computed: of the 4 (positive, negative) pairs, (0.4 vs 0.6) is misordered -> 3/4.
    small = performance_table(_matured(y, [0.9, 0.4, 0.6, 0.1]), PARAMS)
    row = _day(small, "day", 0)
    assert row["roc_auc"] == 0.75
    assert row["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    assert (row["n"], row["positive_rate"]) == (4, 0.5)


def test_rolling_window_pools_the_trailing_days_and_flags_low_auc():
    # Day 0 perfect, days 1-3 inverted: the window ending on day 3 (days 1..3) has AUC 0.
    y = [1, 0] * 4
    p = [0.9, 0.1] + [0.1, 0.9] * 3
    table = performance_table(_matured(y, p, days=[0, 0, 1, 1, 2, 2, 3, 3]), PARAMS)
    assert _day(table, "rolling", 1)["n"] == 4 and _day(table, "rolling", 1)["roc_auc"] == 0.5
    last = _day(table, "rolling", 3)
    assert last["window_start"] == DAY + pd.Timedelta(days=1)
    assert (last["n"], last["n_days"], last["roc_auc"]) == (6, 3, 0.0)
    assert last["auc_flagged"]
    # A day with fewer than min_rows rows is never flagged, however bad.
    assert not _day(table, "day", 3)["auc_flagged"]
    summary = performance_summary(table, _matured(y, p), PARAMS)
    assert summary["decay_flagged"] and summary["latest_window"]["roc_auc"] == 0.0


def test_calibration_table_bins_add_up():
    y = [1, 1, 0, 0, 1, 0]
    p = [0.95, 0.91, 0.15, 0.12, 0.55, 0.55]
    table = calibration_table(_matured(y, p, days=[0, 0, 0, 1, 1, 1]), PARAMS)
    overall = table.loc[table["scope"] == "all"].set_index("bin")
    assert overall["count"].to_dict() == {1: 2, 5: 2, 9: 2}
    assert overall.loc[9, "mean_predicted"] == pytest.approx(0.93)
    assert overall.loc[9, "observed_rate"] == 1.0
    assert overall.loc[5, "observed_rate"] == 0.5
    rolling_day1 = table.loc[
        (table["scope"] == "rolling") & (table["date"] == DAY + pd.Timedelta(days=1))
    ]
    assert rolling_day1["count"].sum() == 6
    day1 = table.loc[(table["scope"] == "day") & (table["date"] == DAY + pd.Timedelta(days=1))]
    assert day1["count"].sum() == 3


def _runs() -> pd.DataFrame:
    """Two pools over 40 days: one steady, one halving; two runs a day, the later one counts."""
    rows = []
    for d in range(40):
        for pool, apy in (("steady", 5.0), ("falling", 10.0 * 0.95**d)):
            if pool == "steady" and d == 20:
                continue  # a gap: the grid keeps the day as NaN
            for hour, noise in ((3, 1.0), (23, 0.0)):
                rows.append(
                    {
                        "pool": pool,
                        "run_timestamp": pd.Timestamp("2025-01-01", tz="UTC")
                        + pd.Timedelta(days=d, hours=hour),
                        "date": pd.Timestamp("2025-01-01") + pd.Timedelta(days=d),
                        "apy": apy + noise,
                        "served": d >= 1,
                        "p_stable_up": 0.8 if pool == "steady" else 0.3,
                    }
                )
    return pd.DataFrame(rows)


def test_outcomes_come_from_the_last_run_of_each_day_and_the_training_label():
    daily = last_run_per_pool_day(_runs())
    assert len(daily) == 79 and (daily["run_timestamp"].dt.hour == 23).all()
    last_complete = daily["date"].max() - pd.Timedelta(days=1)
    grid = daily_grid(daily, last_complete)
    steady = grid.loc[grid["pool"] == "steady"].set_index("date")["apy"]
    assert len(steady) == 39 and np.isnan(steady[pd.Timestamp("2025-01-21")])

    target = load_parameters()["target"]
    matured = matured_predictions(daily, target, last_complete)
    # Labels need days d+1..d+30 in the complete grid (to day index 38); day 0 is not served:
    # day indices 1..8 (Jan 2..9) are matured.
    assert sorted(matured["date"].dt.day.unique()) == list(range(2, 10))
    assert matured.groupby("pool")["target"].unique().to_dict() == {
        "falling": [0],
        "steady": [1],
    }
    assert performance_table(matured, PARAMS)["roc_auc"].eq(1.0).all()
