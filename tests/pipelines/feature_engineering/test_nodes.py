"""Tests of the feature_engineering nodes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from yield_runway.pipelines.feature_engineering.nodes import (
    compute_pool_features,
    fit_categorical_mapping,
    list_features,
)


def _daily() -> pd.DataFrame:
    # Deliberately unsorted: the node orders by pool and date before any window.
    return pd.DataFrame(
        {
            "pool": ["b", "a", "a", "b"],
            "date": pd.to_datetime(["2025-01-02", "2025-01-02", "2025-01-01", "2025-01-01"]),
            "chain": ["Solana", "Ethereum", "Ethereum", "Solana"],
            "project": ["orca", "aave-v3", "aave-v3", "orca"],
            "apy": [4.0, 3.0, 1.0, 2.0],
            "apyReward": [np.nan, 1.5, np.nan, 1.0],
            "tvlUsd": [10.0, 20.0, 20.0, 10.0],
            "observed": True,
            "stablecoin": 1.0,
            "ilRisk": 0.0,
            "exposure": 0.0,
        }
    )


def test_features_per_pool_in_date_order(parameters):
    params = parameters["feature_engineering"]
    mapping = fit_categorical_mapping(_daily(), params)
    assert mapping["chain_factorized"] == {"Ethereum": 0, "Solana": 1}
    out = compute_pool_features(_daily(), mapping, params, parameters["target"])
    assert out["pool"].tolist() == ["a", "a", "b", "b"]
    assert out["apyMeanExpanding"].tolist() == [1.0, 2.0, 2.0, 3.0]
    assert out["apy_logchg_1d"].iloc[1] == np.log(4.0 / 2.0)
    assert out["reward_share"].tolist() == [0.0, 0.5, 0.5, 0.0]
    assert out["project_factorized"].tolist() == [0, 0, 1, 1]
    assert set(list_features(params)) <= set(out.columns)
