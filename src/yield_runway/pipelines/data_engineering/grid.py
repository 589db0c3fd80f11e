"""The regular daily grid: one row per pool per calendar day from its first to its last day."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

DAILY_VALUE_COLUMNS = ("apy", "apyBase", "apyReward", "tvlUsd")
POOL_ATTRIBUTE_COLUMNS = ("chain", "project", "symbol")


def daily_grid(
    daily: pd.DataFrame, attributes: pd.DataFrame, pool_metadata: pd.DataFrame
) -> pd.DataFrame:
    """Spread observed pool-days (pool, date, values) over each pool's full run of days.

    `attributes` has one row per pool (pool, chain, project, symbol): they apply to its whole grid.
    """
    span = daily.groupby("pool", sort=True)["date"].agg(["min", "max"])
    n_days = ((span["max"] - span["min"]).dt.days + 1).to_numpy()
    pools = np.repeat(span.index.to_numpy(), n_days)
    offsets = np.arange(n_days.sum()) - np.repeat(np.cumsum(n_days) - n_days, n_days)
    dates = np.repeat(span["min"].to_numpy(), n_days) + offsets.astype("timedelta64[D]")
    grid = pd.DataFrame({"pool": pools, "date": dates})

    grid = grid.merge(daily, on=["pool", "date"], how="left")
    grid = grid.merge(attributes, on="pool", how="left")
    grid = grid.merge(pool_metadata, on="pool", how="left")
    for column in ("apyBase", "apyReward"):
        if column not in grid.columns:
            grid[column] = np.nan
    grid["observed"] = grid["apy"].notna()
    logger.info(
        "Daily grid: %d pools, %d pool-days (%d observed), %s to %s",
        len(span),
        len(grid),
        int(grid["observed"].sum()),
        grid["date"].min().date() if len(grid) else None,
        grid["date"].max().date() if len(grid) else None,
    )
    return grid
