"""The daily grid: every day of each pool's run, observed values where a day was observed."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from yield_runway.pipelines.data_engineering.nodes import build_daily_grid


def _observed() -> ibis.Table:
    """Observed pool-days, as reduce_to_days leaves them (attributes on every row)."""
    return ibis.memtable(
        pd.DataFrame(
            {
                "pool": ["z", "a", "z", "a"],
                "date": pd.to_datetime(["2025-01-03", "2025-01-01", "2025-01-01", "2025-01-02"]),
                "apy": [3.0, 1.0, 5.0, 2.0],
                "apyBase": [np.nan] * 4,
                "apyReward": [np.nan] * 4,
                "tvlUsd": [30.0, 10.0, 50.0, 20.0],
                "chain": ["Base", None, "Base", None],
                "project": ["p"] * 4,
                "symbol": ["s"] * 4,
            }
        ).assign(date=lambda f: f["date"].dt.date)
    )


def test_grid_fills_each_pools_days_in_order_with_its_attributes():
    metadata = pd.DataFrame({"pool": ["a", "other"], "stablecoin": [1.0, 0.0]})
    grid = build_daily_grid(_observed(), metadata).to_pandas()

    assert grid["pool"].tolist() == ["a", "a", "z", "z", "z"]
    assert grid["date"].dt.day.tolist() == [1, 2, 1, 2, 3]
    assert grid["apy"].tolist()[:2] == [1.0, 2.0]
    assert grid["apy"].iloc[2] == 5.0 and np.isnan(grid["apy"].iloc[3])
    assert grid["tvlUsd"].iloc[4] == 30.0
    assert grid["observed"].tolist() == [True, True, True, False, True]
    assert grid["chain"].tolist()[2:] == ["Base"] * 3 and grid["chain"].iloc[:2].isna().all()
    assert grid["stablecoin"].iloc[:2].tolist() == [1.0, 1.0]
    assert grid["stablecoin"].iloc[2:].isna().all()
    assert grid["apyBase"].isna().all()
    assert list(grid.columns) == [
        "pool",
        "date",
        "apy",
        "apyBase",
        "apyReward",
        "tvlUsd",
        "chain",
        "project",
        "symbol",
        "stablecoin",
        "observed",
    ]
