"""Per-pool feature state: what an hourly run needs to compute a day's features without history.

One row per pool:

- ``pool, chain, project, first_date`` (first observed day) and ``last_date``: the last day
  folded into the committed statistics (NaT while nothing is committed yet).
- Welford ``count, mean, M2`` over the committed observed daily APYs.
- ``apy_t{k}`` and ``tvlUsd_t{k}`` for k = 0..W-1: the daily values k days before ``last_date``
  (NaN for unobserved days), W = the longest rolling window or change lag.
- the *pending* day: ``pending_date`` and its provisional values (the latest snapshot of that
  day, like training's daily ``last``), overwritten by every run of that day and committed by the
  first run of a later day.

All functions are pure and vectorised over pools.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd

from yield_runway.features import daily, market, state_arrays
from yield_runway.features.state_layout import (
    DATE_COLUMNS,
    MISSING,
    PENDING_VALUES,
    TEXT_COLUMNS,
    TRAILED,
    checked_trailing_days,
    state_columns,
    trail_columns,
    trailing_days,
)

DAY = np.timedelta64(1, "D")


class StaleRunError(RuntimeError):
    """A run older than one the state already holds: its outputs would overwrite newer ones."""


def empty_state(days: int) -> pd.DataFrame:
    """A state with no pools."""
    return _typed(pd.DataFrame({c: [] for c in state_columns(days)}))


def _typed(state: pd.DataFrame) -> pd.DataFrame:
    """Cast state columns to their storage types (timestamps are naive UTC)."""
    types = dict.fromkeys(state.columns, "float64")
    types.update(dict.fromkeys(TEXT_COLUMNS, "string"))
    types.update(dict.fromkeys(DATE_COLUMNS, "datetime64[us]"))
    types["count"] = "int64"
    changed = {c: t for c, t in types.items() if str(state[c].dtype) != t}
    return state.astype(changed) if changed else state


def to_arrays(state: pd.DataFrame) -> dict[str, np.ndarray]:
    """The state as plain NumPy columns (no pickle needed): text with a missing mask apiece."""
    arrays: dict[str, np.ndarray] = {}
    for column in state.columns:
        if column in TEXT_COLUMNS:
            arrays[column] = state[column].fillna("").to_numpy(dtype=str)
            arrays[f"{column}{MISSING}"] = state[column].isna().to_numpy(bool)
        else:
            arrays[column] = state[column].to_numpy()
    return arrays


def build_state(pools_daily: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """Build each pool's state from its daily grid; its last observed day becomes pending."""
    days = trailing_days(params)
    grid = pools_daily.sort_values(["pool", "date"], kind="stable")
    observed = grid.loc[grid["apy"].notna()]
    last = observed.groupby("pool", sort=True, observed=True).tail(1).set_index("pool")
    pools = last.index
    # The last observed day stays pending: a run later that same day must overwrite it (the
    # day's last snapshot is its value), not add a second sample for the day.
    committed = grid.loc[grid["date"] < grid["pool"].map(last["date"])]
    committed_apy = committed.loc[committed["apy"].notna()]
    by_pool = committed_apy.groupby("pool", sort=True, observed=True)["apy"]
    count = by_pool.count().reindex(pools, fill_value=0)
    mean = by_pool.mean().reindex(pools)
    deviation = committed_apy["apy"] - committed_apy["pool"].map(mean)
    m2 = (deviation**2).groupby(committed_apy["pool"], sort=True).sum().reindex(pools)

    last_date = last["date"] - DAY
    has_history = committed.groupby("pool", sort=True, observed=True).size().reindex(pools) > 0
    last_date = last_date.where(has_history.fillna(False))
    lag = (committed["pool"].map(last_date) - committed["date"]).dt.days.to_numpy()
    in_trail = lag < days
    rows = pools.get_indexer(committed["pool"])[in_trail]
    trails = {}
    for value in TRAILED:
        matrix = np.full((len(pools), days), np.nan)
        matrix[rows, lag[in_trail].astype(int)] = committed[value].to_numpy(dtype=float)[in_trail]
        trails.update(dict(zip(trail_columns(value, days), matrix.T, strict=True)))

    first_date = grid.loc[grid["apy"].notna()].groupby("pool", sort=True)["date"].min()
    state = pd.DataFrame(
        {
            "pool": pools.astype("string"),
            "chain": last["chain"].to_numpy(),
            "project": last["project"].to_numpy(),
            "first_date": first_date.reindex(pools).to_numpy(),
            "last_date": last_date.to_numpy(),
            "count": count.to_numpy(),
            "mean": mean.to_numpy(),
            "M2": m2.fillna(0.0).to_numpy(),
            **trails,
            "pending_date": last["date"].to_numpy(),
            "pending_timestamp": pd.NaT,
            **{f"pending_{v}": last[v].to_numpy(dtype=float) for v in PENDING_VALUES},
        }
    )
    return _typed(state)[state_columns(days)]


def _columns(frame: pd.DataFrame, names: Collection[str]) -> state_arrays.Columns:
    """Columns of a state or snapshot frame as `state_arrays` works on them (text: str or None)."""
    columns: state_arrays.Columns = {}
    for name in names:
        values = frame[name]
        if name in TEXT_COLUMNS:
            columns[name] = values.astype(object).where(values.notna(), None).to_numpy()
        elif name in DATE_COLUMNS:
            columns[name] = values.to_numpy(dtype="datetime64[us]")
        elif name == "count":
            columns[name] = values.to_numpy(dtype=np.int64)
        elif name == "observation":
            columns[name] = values.to_numpy(dtype=bool)
        else:
            columns[name] = values.to_numpy(dtype=float)
    return columns


def stale_pools(state: pd.DataFrame, run_timestamp: pd.Timestamp) -> pd.Series:
    """Pools whose state is already ahead of this run (a later day or hour was stored)."""
    moment = utc_naive(run_timestamp).to_datetime64()
    stale = state_arrays.stale_pools(_columns(state, DATE_COLUMNS), moment)
    return pd.Series(stale, index=state.index)


def update_state(
    state: pd.DataFrame, snapshot: pd.DataFrame, run_timestamp: pd.Timestamp, days: int
) -> pd.DataFrame:
    """Commit pending days before the run's day, then store the run's observations as pending.

    `snapshot` has one row per pool with `observation` (the row passes training's cleaning rules)
    and the values in PENDING_VALUES. Pools absent from the snapshot keep their state; pools
    whose state is ahead of the run are left alone (`state_arrays.update_state`, which the API
    runs too).
    """
    moment = utc_naive(run_timestamp).to_datetime64()
    rows = _columns(snapshot, ["observation", *state_arrays.STATE_INPUTS])
    updated = state_arrays.update_state(_columns(state, state_columns(days)), rows, moment, days)
    return _typed(pd.DataFrame({c: updated[c] for c in state_columns(days)}))


def utc_naive(timestamp: pd.Timestamp | str) -> pd.Timestamp:
    """A timestamp in naive UTC (aware ones are converted, naive ones are taken as UTC)."""
    stamp = pd.Timestamp(timestamp)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.as_unit("us")


def day_of(timestamp: pd.Timestamp | str) -> pd.Timestamp:
    """The UTC calendar day of a timestamp, as a naive midnight like the daily grid's dates."""
    return utc_naive(timestamp).floor("D")


def serving_grid(state: pd.DataFrame, today: pd.Timestamp, days: int) -> pd.DataFrame:
    """A daily grid of W+1 days per state row: committed trailing days, then today's pending."""
    needed = ["pool", "last_date", "pending_date"]
    needed += [c for value in TRAILED for c in trail_columns(value, days)]
    needed += [f"pending_{v}" for v in (*TRAILED, "apyReward")]
    grid = state_arrays.trailing_grid(_columns(state, needed), today.to_datetime64(), days)
    dates = today.to_datetime64() - np.arange(days, -1, -1) * DAY
    return pd.DataFrame(
        {
            "pool": np.repeat(state["pool"].to_numpy(), days + 1),
            "date": np.tile(dates, len(state)),
            **{value: matrix.ravel() for value, matrix in grid.items()},
        }
    )


def expanding_from_state(
    state: pd.DataFrame, today: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and sample std of APY through today: committed Welford plus today's pending."""
    needed = ("count", "mean", "M2", "pending_apy", "pending_date")
    return state_arrays.expanding(_columns(state, needed), today.to_datetime64())


def serving_features(
    state: pd.DataFrame,
    pools: pd.DataFrame,
    run_timestamp: pd.Timestamp,
    mapping: Mapping[str, Mapping[str, int]],
    params: Mapping[str, Any],
    target_params: Mapping[str, Any],
    context: Mapping[str, pd.DataFrame] | None = None,
    market_universe: Collection[str] | None = None,
) -> pd.DataFrame:
    """Every feature for today for each pool in `pools`, computed by the training feature code.

    `pools` holds one row per pool with today's chain, project and flags (state values fill
    gaps). Pools unknown to the state get an empty history. The market context is that of
    `pools` themselves (the hourly run's snapshot), of those in `market_universe` when given
    (the pools training's market was made of), unless a stored `context` is given.
    """
    days = checked_trailing_days(params, target_params)
    today = day_of(run_timestamp)
    rows = state.set_index("pool").reindex(pd.Index(pools["pool"], dtype="string"))
    rows = rows.assign(count=rows["count"].fillna(0).astype("int64")).reset_index()
    grid = serving_grid(rows, today, days)
    windows = daily.window_features(
        grid, params["rolling_windows"], params["change_lags"], params["min_periods"]
    )
    realised = daily.realised_target(grid, target_params)[days :: days + 1]
    current = windows.iloc[days :: days + 1].reset_index(drop=True)
    count, mean, std = expanding_from_state(rows, today)
    flags = {
        flag: pools[flag].to_numpy(dtype=float)
        if flag in pools
        else rows[f"pending_{flag}"].to_numpy(dtype=float)
        for flag in daily.FLAG_FEATURES
    }
    current = current.assign(
        chain=pd.Series(pools["chain"].to_numpy(), dtype="string").fillna(rows["chain"]),
        project=pd.Series(pools["project"].to_numpy(), dtype="string").fillna(rows["project"]),
        n_samples=count.astype("int64"),
        apyMeanExpanding=mean,
        apyStdExpanding=std,
        **flags,
    )
    current = daily.encode_categoricals(current, mapping, params["categorical_columns"])
    first_date = rows["first_date"].fillna(today)
    current = daily.point_features(current, first_day=first_date)
    current = current.assign(**{daily.REALISED_TARGET: realised})
    market_params = params["market_context"]
    if context is None:
        context = market.summarise(current, market_params, market_universe)
        return market.apply(current, context, market_params)
    return market.apply(current, market.restamp(context, today), market_params)
