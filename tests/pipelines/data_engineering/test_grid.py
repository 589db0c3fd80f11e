"""The daily grid: every day of each pool's run, observed values where a day was observed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yield_runway.pipelines.data_engineering.grid import daily_grid


def _observed() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pool": pd.array(["z", "a", "z", "a"], dtype="string"),
            "date": pd.to_datetime(["2025-01-03", "2025-01-01", "2025-01-01", "2025-01-02"]),
            "apy": [3.0, 1.0, 5.0, 2.0],
            "tvlUsd": [30.0, 10.0, 50.0, 20.0],
        }
    )


def test_grid_fills_each_pools_days_in_order_with_its_attributes():
    attributes = pd.DataFrame({"pool": ["z", "a"], "chain": pd.array(["Base", None], "string")})
    metadata = pd.DataFrame({"pool": ["a", "other"], "stablecoin": [1.0, 0.0]})
    grid = daily_grid(_observed(), attributes, metadata)

    assert grid["pool"].tolist() == ["a", "a", "z", "z", "z"]
    assert grid["date"].dt.day.tolist() == [1, 2, 1, 2, 3]
    assert grid["apy"].tolist()[:2] == [1.0, 2.0]
    assert grid["apy"].iloc[2] == 5.0 and np.isnan(grid["apy"].iloc[3])
    assert grid["tvlUsd"].iloc[4] == 30.0
    assert grid["observed"].tolist() == [True, True, True, False, True]
    assert grid["chain"].tolist()[2:] == ["Base"] * 3 and grid["chain"].iloc[:2].isna().all()
    assert grid["stablecoin"].iloc[:2].tolist() == [1.0, 1.0]
    assert grid["stablecoin"].iloc[2:].isna().all()
    assert grid["apyBase"].isna().all()  # absent from the input: an all-NaN column
    assert grid["date"].dtype == _observed()["date"].dtype


def test_grid_refuses_two_rows_for_one_pool_day():
    twice = pd.concat([_observed(), _observed().iloc[:1]], ignore_index=True)
    attributes = pd.DataFrame({"pool": ["z", "a"]})
    with pytest.raises(ValueError, match="more than one row for a pool and date"):
        daily_grid(twice, attributes, pd.DataFrame({"pool": []}))
