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


def _with(state: pd.DataFrame, updates: Mapping[str, Any], days: int) -> pd.DataFrame:
    """The state with some columns replaced (whole columns: cheaper than masked assignment)."""
    columns = {c: updates[c] if c in updates else state[c].to_numpy() for c in state_columns(days)}
    return _typed(pd.DataFrame(columns, index=state.index))


def commit_pending(state: pd.DataFrame, today: pd.Timestamp, days: int) -> pd.DataFrame:
    """Fold every pending day before `today` into the trailing values and Welford statistics."""
    due = (state["pending_date"] < today).to_numpy()
    if not due.any():
        return state
    # Days from the old last day to the pending one; gaps in between become NaN.
    shift = (state["pending_date"] - state["last_date"]).dt.days.fillna(days).to_numpy(dtype=int)
    updates: dict[str, Any] = {}
    for value in TRAILED:
        columns = trail_columns(value, days)
        old = state[columns].to_numpy(dtype=float)
        new = state_arrays.shift_trails(old, shift)
        new[:, 0] = state[f"pending_{value}"].to_numpy(dtype=float)
        updates.update(dict(zip(columns, np.where(due[:, None], new, old).T, strict=True)))
    count, mean, m2 = state_arrays.welford_add(
        state["count"].to_numpy(),
        state["mean"].to_numpy(dtype=float),
        state["M2"].to_numpy(dtype=float),
        np.where(due, state["pending_apy"].to_numpy(dtype=float), np.nan),
    )
    updates.update(count=count, mean=mean, M2=m2)
    updates["last_date"] = state["last_date"].where(~due, state["pending_date"]).to_numpy()
    for column in ("pending_date", "pending_timestamp", *[f"pending_{v}" for v in PENDING_VALUES]):
        updates[column] = state[column].where(~due).to_numpy()
    return _with(state, updates, days)


def stale_pools(state: pd.DataFrame, run_timestamp: pd.Timestamp) -> pd.Series:
    """Pools whose state is already ahead of this run (a later day or hour was stored)."""
    run_timestamp = utc_naive(run_timestamp)
    today = day_of(run_timestamp)
    ahead_day = (state["last_date"] >= today) | (state["pending_date"] > today)
    ahead_hour = (state["pending_date"] == today) & (state["pending_timestamp"] > run_timestamp)
    return (ahead_day | ahead_hour).fillna(False)


def update_state(
    state: pd.DataFrame, snapshot: pd.DataFrame, run_timestamp: pd.Timestamp, days: int
) -> pd.DataFrame:
    """Commit pending days before the run's day, then store the run's observations as pending.

    `snapshot` has one row per pool with `observation` (the row passes training's cleaning rules)
    and the values in PENDING_VALUES. Pools absent from the snapshot keep their state; pools
    whose state is ahead of the run are left alone.
    """
    run_timestamp = utc_naive(run_timestamp)
    today = day_of(run_timestamp)
    state = commit_pending(state, today, days)
    seen = snapshot.loc[snapshot["observation"]].set_index("pool")
    stale = stale_pools(state, run_timestamp)
    known = state.set_index("pool")
    new_pools = seen.index.difference(known.index)
    if len(new_pools):
        # A new pool starts fresh: no committed day, first observed today.
        fresh = pd.DataFrame(np.nan, index=range(len(new_pools)), columns=state_columns(days))
        fresh = fresh.assign(pool=new_pools.to_numpy(), count=0, M2=0.0, first_date=today)
        known = pd.concat([known, _typed(fresh).set_index("pool")])
    target = known.index.isin(seen.index) & ~known.index.isin(state.loc[stale, "pool"])
    new = seen.reindex(known.index)
    same_day = (known["pending_date"] == today).to_numpy()
    updates: dict[str, Any] = {
        "pending_date": known["pending_date"].mask(target, today).to_numpy(),
        "pending_timestamp": known["pending_timestamp"].mask(target, run_timestamp).to_numpy(),
        "first_date": known["first_date"].mask(target & known["first_date"].isna(), today),
    }
    for column in ("chain", "project"):
        # The latest known chain/project applies, like training's per-pool `last`.
        updates[column] = known[column].mask(target & new[column].notna(), new[column])
    for value in PENDING_VALUES:
        current = new[value].to_numpy(dtype=float)
        earlier = known[f"pending_{value}"].to_numpy(dtype=float)
        # Like pandas' groupby `last`: the day's latest non-null value; apy and tvlUsd are
        # never null in an observation, so only apyReward and the flags fall back.
        latest = np.where(np.isnan(current) & same_day, earlier, current)
        updates[f"pending_{value}"] = np.where(target, latest, earlier)
    updates = {k: np.asarray(v) for k, v in updates.items()}
    return _with(known.reset_index(), updates, days).reset_index(drop=True)


def utc_naive(timestamp: pd.Timestamp | str) -> pd.Timestamp:
    """A timestamp in naive UTC (aware ones are converted, naive ones are taken as UTC)."""
    stamp = pd.Timestamp(timestamp)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.as_unit("us")


def day_of(timestamp: pd.Timestamp | str) -> pd.Timestamp:
    """The UTC calendar day of a timestamp, as a naive midnight like the daily grid's dates."""
    return utc_naive(timestamp).floor("D")


def _trailing_matrix(state: pd.DataFrame, value: str, today: pd.Timestamp, days: int) -> np.ndarray:
    """Committed daily values for days today-W..today-1 (columns oldest first) per state row."""
    matrix = state[trail_columns(value, days)].to_numpy(dtype=float)
    offset = (today - state["last_date"]).dt.days
    # Column j holds day today-W+j, which is (W - j - offset) days before last_date.
    lag = days - np.arange(days)[None, :] - offset.fillna(-days).to_numpy(dtype=int)[:, None]
    # No committed day, or a day after last_date (a stale pool), has no committed value.
    valid = (lag >= 0) & (lag < days) & offset.notna().to_numpy()[:, None]
    gathered = np.take_along_axis(matrix, np.clip(lag, 0, days - 1), axis=1)
    return np.where(valid, gathered, np.nan)


def serving_grid(state: pd.DataFrame, today: pd.Timestamp, days: int) -> pd.DataFrame:
    """A daily grid of W+1 days per state row: committed trailing days, then today's pending."""
    n = len(state)
    pending_today = (state["pending_date"] == today).to_numpy()
    columns: dict[str, np.ndarray] = {}
    for value in (*TRAILED, "apyReward"):
        history = (
            _trailing_matrix(state, value, today, days)
            if value in TRAILED
            else np.full((n, days), np.nan)
        )
        current = np.where(pending_today, state[f"pending_{value}"].to_numpy(dtype=float), np.nan)
        columns[value] = np.column_stack([history, current]).ravel()
    dates = today.to_datetime64() - np.arange(days, -1, -1) * DAY
    return pd.DataFrame(
        {
            "pool": np.repeat(state["pool"].to_numpy(), days + 1),
            "date": np.tile(dates, n),
            **columns,
        }
    )


def expanding_from_state(
    state: pd.DataFrame, today: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and sample std of APY through today: committed Welford plus today's pending."""
    columns = {c: state[c].to_numpy(dtype=float) for c in ("mean", "M2", "pending_apy")}
    columns.update(count=state["count"].to_numpy(), pending_date=state["pending_date"].to_numpy())
    return state_arrays.expanding(columns, today.to_datetime64())


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
