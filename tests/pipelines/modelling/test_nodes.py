"""Tests of the modelling nodes on small hand-built frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yield_runway.pipelines.modelling.nodes import (
    build_feature_reference,
    build_model_input,
    make_evaluation_splits,
    select_champion,
)

TARGET = {
    "horizon_days": 2,
    "threshold": -0.2,
    "future_stat": "point",
    "min_future_samples": 1,
    "zero_apy_rule": "exclude",
}


def _features() -> pd.DataFrame:
    apy = [5.0, 0.0, np.nan, 1.0, 8.0, 5.0, 5.0, 5.0]
    return pd.DataFrame(
        {
            "pool": "p1",
            "date": pd.date_range("2025-01-01", periods=8, freq="D"),
            "apy": apy,
            "observed": ~np.isnan(apy),
            "n_samples": [1, 2, 2, 3, 4, 5, 6, 7],
            "f1": np.arange(8.0),
        }
    )


def test_model_input_keeps_labelled_observed_rows_and_flags_served():
    table = build_model_input(_features(), ["apy", "f1"], TARGET, {"min_samples": 4})
    # Day 1's point target (day 3) is unobserved, day 2 has apy 0, day 3 is unobserved,
    # and the last two days have no future: days 4, 5 and 6 remain.
    assert table["date"].dt.day.tolist() == [4, 5, 6]
    # 1 -> 5 is up; 8 -> 5 is -37.5%: Down; 5 -> 5 is stable.
    assert table["target"].tolist() == [1, 0, 1]
    assert table["f1"].tolist() == [3.0, 4.0, 5.0]
    assert table["served"].tolist() == [False, True, True]
    assert table["target"].dtype == np.int8


def test_purge_shorter_than_horizon_is_rejected():
    table = pd.DataFrame({"date": pd.date_range("2025-01-01", periods=10)})
    split = {"holdout_fraction": 0.3, "purge_days": 1, "cv_folds": 1, "min_train_days": 1}
    with pytest.raises(
        ValueError, match="purge_days \\(1\\) must be at least the label horizon \\(2\\)"
    ):
        make_evaluation_splits(table, split, TARGET)


def test_champion_is_best_by_cv_not_holdout():
    cv = {"a": {"roc_auc_mean": 0.61}, "b": {"roc_auc_mean": 0.70}, "c": {"roc_auc_mean": 0.65}}
    assert select_champion(cv) == "b"


def test_feature_reference_is_each_pools_latest_observed_row():
    features = pd.concat([_features(), _features().assign(pool="p2", f1=np.nan)], ignore_index=True)
    features.loc[7, "observed"] = False
    records = build_feature_reference(features, ["apy", "f1"])
    assert records[0] == {"pool": "p1", "date": "2025-01-07", "apy": 5.0, "f1": 6.0}
    assert records[1]["pool"] == "p2" and records[1]["f1"] is None
