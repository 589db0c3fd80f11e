"""The whole-file pandas implementation of cleaning, daily aggregation and the grid: the oracle.

Not used by any pipeline. It reads the entire history into memory as text and is the reference
that the engine's definition (`pipelines/data_engineering/nodes.py`) must reproduce; it is short
and obviously right, which is its job.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from yield_runway.contracts import DAILY_VALUE_COLUMNS, POOL_ATTRIBUTE_COLUMNS

logger = logging.getLogger(__name__)


def _check_columns(frame: pd.DataFrame, required: list[str], name: str) -> None:
    """Raise a ValueError naming every required column that is missing."""
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} is missing required column(s): {', '.join(missing)}; "
            f"found: {', '.join(map(str, frame.columns))}"
        )


def _is_blank(values: pd.Series) -> np.ndarray:
    """True where a raw text value is null, empty or the text 'nan'."""
    text = values.astype("string").str.strip().str.lower().fillna("")
    return text.isin(["", "nan"]).to_numpy(dtype=bool)


def _as_float(values: pd.Series) -> np.ndarray:
    """Parse text as float; anything unparsable becomes NaN."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def clean_pools_history(
    pools_history: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate the raw history schema, drop and count bad rows and APY outliers."""
    required = list(params["required_columns"])
    _check_columns(pools_history, required, "pools_history")
    optional = [c for c in params["optional_numeric_columns"] if c in pools_history.columns]
    raw = pools_history[required + optional]
    n_raw = len(raw)

    timestamp = pd.to_datetime(raw["timestamp"], errors="coerce", utc=True, format="ISO8601")
    first, last = (pd.Timestamp(t, tz="UTC") for t in params["timestamp_window"])
    timestamp = timestamp.where((timestamp >= first) & (timestamp < last))
    apy = _as_float(raw["apy"])
    tvl = _as_float(raw["tvlUsd"])
    apy_blank = _is_blank(raw["apy"])
    components = {c: _as_float(raw[c]) for c in optional}
    # Exact duplicates: equal in every column as read (text as is, instants, numbers). A blank
    # APY and a non-numeric one are different readings: they are dropped for different reasons,
    # and with no row order an engine cannot tell which of the two came first.
    as_read = pd.DataFrame(
        {
            **{c: raw[c].astype("string") for c in ("pool", *POOL_ATTRIBUTE_COLUMNS)},
            "timestamp": timestamp,
            "apy": apy,
            "apy_blank": apy_blank,
            "tvlUsd": tvl,
            **components,
        }
    )
    duplicate = as_read.duplicated(keep="first").to_numpy(dtype=bool)

    # Each bad row is counted once, under the first reason that applies, in this order.
    reasons = {
        "duplicate_row": duplicate,
        "missing_pool": _is_blank(raw["pool"]),
        "unparsable_timestamp": timestamp.isna().to_numpy(dtype=bool),
        "missing_apy": apy_blank,
        "non_numeric_apy": ~apy_blank & ~np.isfinite(apy),
        "negative_apy": apy < 0,
        "absurd_apy": apy > params["apy_max"],
        "invalid_tvl": ~np.isfinite(tvl) | (tvl < 0),
    }
    drop = np.zeros(n_raw, dtype=bool)
    dropped: dict[str, int] = {}
    for reason, mask in reasons.items():
        new = mask & ~drop
        dropped[reason] = int(new.sum())
        drop |= new

    keep = ~drop
    clean = pd.DataFrame(
        {
            "timestamp": timestamp[keep],
            "pool": raw["pool"].astype("string").str.strip()[keep],
            **{c: raw[c].astype("string")[keep] for c in POOL_ATTRIBUTE_COLUMNS},
            "tvlUsd": tvl[keep],
            "apy": apy[keep],
        }
    )
    for column, values in components.items():
        values = values[keep]
        # A negative or non-finite component is unknown, not a reason to lose the row.
        clean[column] = np.where(np.isfinite(values) & (values >= 0), values, np.nan)

    cap = float(clean["apy"].quantile(params["apy_outlier_quantile"])) if len(clean) else np.inf
    outlier = clean["apy"] > cap
    dropped["malformed_row"] = 0  # a frame has no row of the wrong width
    dropped["apy_outlier"] = int(outlier.sum())
    clean = clean.loc[~outlier].sort_values(["pool", "timestamp"], kind="stable")
    clean = clean.reset_index(drop=True)

    report = {
        "rows_raw": n_raw,
        "rows_clean": len(clean),
        "rows_dropped": n_raw - len(clean),
        "dropped_by_reason": dropped,
        "apy_outlier_cap": cap,
        "pools": int(clean["pool"].nunique()),
        "malformed_rows": [],
    }
    logger.info(
        "Cleaned pools_history: kept %d of %d rows; dropped %s (APY outlier cap %.4g%%)",
        len(clean),
        n_raw,
        ", ".join(f"{k}={v}" for k, v in dropped.items()),
        cap,
    )
    return clean, report


def aggregate_daily(
    pools_clean: pd.DataFrame, pool_metadata: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """Reduce snapshots to one row per pool per calendar day on a regular daily grid."""
    how = params["daily_aggregation"]
    if how not in {"last", "mean", "median"}:
        raise ValueError(f"daily_aggregation must be last, mean or median, got {how!r}")
    frame = pools_clean.assign(date=pools_clean["timestamp"].dt.tz_convert(None).dt.floor("D"))
    values = [c for c in DAILY_VALUE_COLUMNS if c in frame.columns]
    # Input is sorted by pool then timestamp, so "last" is the day's latest snapshot.
    daily = frame.groupby(["pool", "date"], sort=True, observed=True)[values].agg(how)
    attributes = frame.groupby("pool", sort=True)[list(POOL_ATTRIBUTE_COLUMNS)].last()
    return daily_grid(daily.reset_index(), attributes.reset_index(), pool_metadata)


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
