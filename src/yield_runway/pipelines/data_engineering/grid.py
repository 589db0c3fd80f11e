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
    Pools come in sorted order, each pool's days in date order. A left join of the grid on the
    three frames, computed from positions: a pool-day's row is its pool's first row plus its day.
    """
    codes, pools = pd.factorize(daily["pool"], sort=True)
    if (codes < 0).any():
        raise ValueError("pools_daily has rows without a pool")
    day = daily["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    first = np.full(len(pools), np.iinfo(np.int64).max)
    last = np.full(len(pools), np.iinfo(np.int64).min)
    np.minimum.at(first, codes, day)
    np.maximum.at(last, codes, day)
    n_days = last - first + 1
    start = np.cumsum(n_days) - n_days
    grid_pool = np.repeat(np.arange(len(pools)), n_days)
    grid_day = np.repeat(first - start, n_days) + np.arange(int(n_days.sum()))
    # Which row of each frame fills a grid row (-1: none, like a left join's missing match).
    observed_row = np.full(len(grid_pool), -1)
    at = start[codes] + day - first[codes]
    observed_row[at] = np.arange(len(daily))
    if (observed_row >= 0).sum() != len(daily):
        raise ValueError("pools_daily has more than one row for a pool and date")
    columns = {
        # Object dtype, as the join on a groupby index gave it (what downstream nodes expect).
        "pool": pd.Series(np.asarray(pools, dtype=object)[grid_pool], dtype=object),
        "date": grid_day.astype("datetime64[D]").astype(daily["date"].dtype),
    }
    for column in daily.columns.drop(["pool", "date"]):
        columns[column] = daily[column].array.take(observed_row, allow_fill=True)
    for per_pool in (attributes, pool_metadata):
        # get_indexer refuses duplicate pools: a join on them would repeat grid rows.
        pool_row = pd.Index(per_pool["pool"]).get_indexer(pools)[grid_pool]
        for column in per_pool.columns.drop("pool"):
            columns[column] = per_pool[column].array.take(pool_row, allow_fill=True)
    grid = pd.DataFrame(columns)
    for column in ("apyBase", "apyReward"):
        if column not in grid.columns:
            grid[column] = np.nan
    grid["observed"] = grid["apy"].notna()
    logger.info(
        "Daily grid: %d pools, %d pool-days (%d observed), %s to %s",
        len(pools),
        len(grid),
        int(grid["observed"].sum()),
        grid["date"].min().date() if len(grid) else None,
        grid["date"].max().date() if len(grid) else None,
    )
    return grid
