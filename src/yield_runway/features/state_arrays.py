"""The feature state as NumPy columns: advance it by a snapshot and compute today's features.

No pandas: the API (`POST /predictions/pools`) runs on this. The hourly run advances its state
with these same functions (`state.update_state` converts its frames); today's features here are
the twin of `state.serving_features` against a stored market, which computes them through the
training feature code, and `tests/features/test_state_arrays.py` holds the two equal on
generated states and snapshots. Timestamps are naive UTC `datetime64[us]`; text columns are
object arrays of str or None. One row per pool throughout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from yield_runway.features.state_layout import (
    DATE_COLUMNS,
    FLAG_FEATURES,
    MISSING,
    PENDING_VALUES,
    REALISED_TARGET,
    TEXT_COLUMNS,
    TRAILED,
    UNKNOWN_CODE,
    checked_trailing_days,
    state_columns,
    trail_columns,
)

Columns = dict[str, np.ndarray]
DAY = np.timedelta64(1, "D")
NAT = np.datetime64("NaT", "us")
DOWN, STABLE_UP = 0.0, 1.0


# The snapshot columns that update a state.
STATE_INPUTS = ("pool", "chain", "project", *PENDING_VALUES)


class StateFormatError(ValueError):
    """A stored state that lacks columns or whose columns disagree in length."""


def day_of(timestamp: np.datetime64) -> np.datetime64:
    """The UTC calendar day of a naive UTC timestamp, as a midnight in microseconds."""
    return timestamp.astype("datetime64[D]").astype("datetime64[us]")


def _days(delta: np.ndarray) -> np.ndarray:
    """Whole days of a timedelta array as floats (NaN for NaT)."""
    return delta / DAY


# The dtype kinds a stored column may have, by role (NumPy's `dtype.kind` letters).
_KINDS = {"text": "U", "mask": "b", "date": "M", "count": "iu", "value": "fiu"}


def _role(column: str) -> str:
    """What a stored state column holds."""
    if column.endswith(MISSING):
        return "mask"
    if column in TEXT_COLUMNS:
        return "text"
    if column in DATE_COLUMNS:
        return "date"
    return "count" if column == "count" else "value"


def read_columns(arrays: Mapping[str, np.ndarray], days: int) -> Columns:
    """A stored state's columns (`state.to_arrays` wrote them) in their working types.

    StateFormatError names the first column that is absent, not one-dimensional, of another
    kind than the state's, or of another length, and pools that are empty or listed twice.
    """
    needed = [*state_columns(days), *[f"{c}{MISSING}" for c in TEXT_COLUMNS]]
    absent = [c for c in needed if c not in arrays]
    if absent:
        raise StateFormatError(f"the feature state lacks column(s) {', '.join(absent[:5])}")
    stored = {c: np.asarray(arrays[c]) for c in needed}
    for column, values in stored.items():
        kinds = _KINDS[_role(column)]
        if values.ndim != 1 or values.dtype.kind not in kinds:
            raise StateFormatError(
                f"column {column} is {values.dtype} of shape {values.shape}: not a column of "
                f"kind {kinds!r}"
            )
    if len({len(values) for values in stored.values()}) > 1:
        raise StateFormatError("the feature state's columns differ in length")
    pools = stored["pool"]
    if stored[f"pool{MISSING}"].any() or len(set(pools)) != len(pools) or (pools == "").any():
        raise StateFormatError("the feature state's pools are not distinct non-empty ids")
    columns: Columns = {}
    for column in state_columns(days):
        values, role = stored[column], _role(column)
        if role == "text":
            mask = stored[f"{column}{MISSING}"]
            columns[column] = np.where(mask, None, values.astype(object))
        elif role == "date":
            columns[column] = values.astype("datetime64[us]")
        else:
            columns[column] = values.astype(np.int64 if role == "count" else float)
    return columns


def welford_add(
    count: np.ndarray, mean: np.ndarray, m2: np.ndarray, value: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add one sample per pool where the value is observed (NaN: no sample)."""
    add = ~np.isnan(value)
    new_count = count + add
    safe_count = np.where(new_count > 0, new_count, 1)
    delta = np.where(add, value - np.nan_to_num(mean), 0.0)
    new_mean = np.where(add, np.nan_to_num(mean) + delta / safe_count, mean)
    new_m2 = np.where(add, np.nan_to_num(m2) + delta * (value - new_mean), m2)
    return new_count, new_mean, new_m2


def shift_trails(matrix: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Re-index trailing values to a later last day: row i moves `shift[i]` days older."""
    days = matrix.shape[1]
    source = np.arange(days)[None, :] - shift[:, None]
    valid = (source >= 0) & (source < days)
    gathered = np.take_along_axis(matrix, np.clip(source, 0, days - 1), axis=1)
    return np.where(valid, gathered, np.nan)


def _trail_matrix(state: Columns, value: str, days: int) -> np.ndarray:
    """A value's trailing columns as one (pools, days) matrix, t0 first."""
    return np.stack([state[c] for c in trail_columns(value, days)], axis=1).reshape(-1, days)


def commit_pending(state: Columns, today: np.datetime64, days: int) -> Columns:
    """Fold every pending day before `today` into the trailing values and Welford statistics."""
    due = state["pending_date"] < today
    if not due.any():
        return state
    # Days from the old last day to the pending one; gaps in between become NaN.
    gap = _days(state["pending_date"] - state["last_date"])
    shift = np.where(np.isnan(gap), days, gap).astype(np.int64)
    out = dict(state)
    for value in TRAILED:
        old = _trail_matrix(state, value, days)
        new = shift_trails(old, shift)
        new[:, 0] = state[f"pending_{value}"]
        merged = np.where(due[:, None], new, old)
        out.update(zip(trail_columns(value, days), merged.T, strict=True))
    pending_apy = np.where(due, state["pending_apy"], np.nan)
    out["count"], out["mean"], out["M2"] = welford_add(
        state["count"], state["mean"], state["M2"], pending_apy
    )
    out["last_date"] = np.where(due, state["pending_date"], state["last_date"])
    out["pending_date"] = np.where(due, NAT, state["pending_date"])
    out["pending_timestamp"] = np.where(due, NAT, state["pending_timestamp"])
    for value in PENDING_VALUES:
        out[f"pending_{value}"] = np.where(due, np.nan, state[f"pending_{value}"])
    return out


def stale_pools(state: Columns, run_timestamp: np.datetime64) -> np.ndarray:
    """Pools whose state is already ahead of this run (a later day or hour was stored)."""
    today = day_of(run_timestamp)
    ahead_day = (state["last_date"] >= today) | (state["pending_date"] > today)
    ahead_hour = (state["pending_date"] == today) & (state["pending_timestamp"] > run_timestamp)
    return ahead_day | ahead_hour


def _take(state: Columns, rows: np.ndarray) -> Columns:
    """State rows by position; -1 gives an empty row (no history, count 0)."""
    known = rows >= 0
    safe = np.where(known, rows, 0)
    out: Columns = {}
    for column, values in state.items():
        if column == "count":
            empty: Any = 0
        elif column in TEXT_COLUMNS:
            empty = None
        elif column in DATE_COLUMNS:
            empty = NAT
        else:
            empty = np.nan
        taken = values[safe] if len(values) else np.full(len(rows), empty, dtype=values.dtype)
        out[column] = np.where(known, taken, empty).astype(values.dtype)
    return out


def _positions(pools: np.ndarray, of: np.ndarray) -> np.ndarray:
    """Each of `of`'s position in `pools` (-1 when absent)."""
    index = {pool: i for i, pool in enumerate(pools)}
    return np.array([index.get(pool, -1) for pool in of], dtype=np.int64)


def update_state(
    state: Columns, snapshot: Columns, run_timestamp: np.datetime64, days: int
) -> Columns:
    """Commit pending days before the run's day, then store the run's observations as pending.

    `snapshot` holds one row per pool (`snapshot_objects.parse_objects`); only rows with
    `observation` count. Absent pools keep their state; pools ahead of the run are left alone.
    """
    today = day_of(run_timestamp)
    state = commit_pending(state, today, days)
    observed = snapshot["observation"]
    seen = snapshot["pool"][observed]
    stale = stale_pools(state, run_timestamp)
    new_pools = sorted(set(seen) - set(state["pool"]))
    if new_pools:
        # A new pool starts fresh: no committed day, first observed today.
        fresh = _take(state, np.full(len(new_pools), -1))
        fresh.update(
            pool=np.array(new_pools, dtype=object),
            M2=np.zeros(len(new_pools)),
            first_date=np.full(len(new_pools), today),
        )
        state = {c: np.concatenate([state[c], fresh[c]]) for c in state}
        stale = np.concatenate([stale, np.zeros(len(new_pools), dtype=bool)])
    source = _positions(seen, state["pool"])
    target = (source >= 0) & ~stale
    new = _take({k: snapshot[k][observed] for k in STATE_INPUTS}, source)
    same_day = state["pending_date"] == today
    out = dict(state)
    out["pending_date"] = np.where(target, today, state["pending_date"])
    out["pending_timestamp"] = np.where(target, run_timestamp, state["pending_timestamp"])
    out["first_date"] = np.where(target & np.isnat(state["first_date"]), today, state["first_date"])
    for column in ("chain", "project"):
        # The latest known chain/project applies, like training's per-pool `last`.
        given = np.array([v is not None for v in new[column]], dtype=bool)
        out[column] = np.where(target & given, new[column], state[column])
    for value in PENDING_VALUES:
        earlier = state[f"pending_{value}"]
        # Like pandas' groupby `last`: the day's latest non-null value; apy and tvlUsd are
        # never null in an observation, so only apyReward and the flags fall back.
        latest = np.where(np.isnan(new[value]) & same_day, earlier, new[value])
        out[f"pending_{value}"] = np.where(target, latest, earlier)
    return out


def expanding(state: Columns, today: np.datetime64) -> tuple[np.ndarray, ...]:
    """Count, mean and sample std of APY through today: committed Welford plus today's pending."""
    today_apy = np.where(state["pending_date"] == today, state["pending_apy"], np.nan)
    count, mean, m2 = welford_add(state["count"], state["mean"], state["M2"], today_apy)
    # Fewer than two samples has no sample std: the contract says 0.
    std = np.where(count >= 2, np.sqrt(np.maximum(m2, 0.0) / np.maximum(count - 1, 1)), 0.0)
    return count, mean, std


def trailing_grid(state: Columns, today: np.datetime64, days: int) -> dict[str, np.ndarray]:
    """Per value, a (pools, W+1) matrix of days today-W..today: committed days, then pending."""
    n = len(state["pool"])
    offset = _days(today - state["last_date"])
    # Column j holds day today-W+j, which is (W - j - offset) days before last_date.
    lag = days - np.arange(days)[None, :] - np.where(np.isnan(offset), -days, offset)[:, None]
    lag = lag.astype(np.int64)
    # No committed day, or a day after last_date (a stale pool), has no committed value.
    valid = (lag >= 0) & (lag < days) & ~np.isnan(offset)[:, None]
    pending_today = state["pending_date"] == today
    grid = {}
    for value in (*TRAILED, "apyReward"):
        if value in TRAILED:
            matrix = _trail_matrix(state, value, days)
            gathered = np.take_along_axis(matrix, np.clip(lag, 0, days - 1), axis=1)
            history = np.where(valid, gathered, np.nan)
        else:
            history = np.full((n, days), np.nan)
        current = np.where(pending_today, state[f"pending_{value}"], np.nan)
        grid[value] = np.column_stack([history, current])
    return grid


def window_std(window: np.ndarray, min_periods: int) -> np.ndarray:
    """Sample std of each row's observed values (NaN skipped), NaN below `min_periods` or 2.

    Two passes over the window's own values: training and the hourly run compute it so too,
    because pandas' sliding variance keeps a large value's rounding after it leaves the window
    (a 10,000% day made a later flat week's std 500 times too large).
    """
    observed = ~np.isnan(window)
    count = observed.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(observed, window, 0.0).sum(axis=1) / count
        deviation = np.where(observed, window - mean[:, None], 0.0)
        variance = (deviation**2).sum(axis=1) / (count - 1)
    return np.where(count >= max(min_periods, 2), np.sqrt(variance), np.nan)


def _window_stat(window: np.ndarray, stat: str, min_periods: int) -> np.ndarray:
    """A statistic of each row's observed values, NaN with fewer than `min_periods`."""
    if stat == "std":
        return window_std(window, min_periods)
    observed = (~np.isnan(window)).sum(axis=1)
    enough = observed >= max(min_periods, 1)
    values = np.full(len(window), np.nan)
    if enough.any():
        rows = window[enough]
        values[enough] = np.nanmean(rows, axis=1) if stat == "mean" else np.nanmedian(rows, axis=1)
    return values


def window_features(grid: dict[str, np.ndarray], params: Mapping[str, Any]) -> Columns:
    """Today's rolling APY statistics, APY/TVL changes and APY relative to its recent means."""
    apy = grid["apy"]
    last = apy.shape[1] - 1
    now = {"apy": np.log1p(apy[:, last]), "tvlUsd": np.log1p(grid["tvlUsd"][:, last])}
    out: Columns = {}
    for k in params["change_lags"]:
        out[f"apy_logchg_{k}d"] = now["apy"] - np.log1p(apy[:, last - k])
        out[f"tvl_logchg_{k}d"] = now["tvlUsd"] - np.log1p(grid["tvlUsd"][:, last - k])
    for w in params["rolling_windows"]:
        window = apy[:, last + 1 - w :]
        for stat in ("mean", "median", "std"):
            out[f"apy_{stat}_{w}d"] = _window_stat(window, stat, params["min_periods"][stat])
        out[f"apy_rel_mean_{w}d"] = now["apy"] - np.log1p(out[f"apy_mean_{w}d"])
    return out


def realised_target(apy: np.ndarray, target_params: Mapping[str, Any]) -> np.ndarray:
    """The label of the day `horizon` days before today, whose window ends today (NaN: none)."""
    horizon = target_params["horizon_days"]
    last = apy.shape[1] - 1
    start = apy[:, last - horizon]
    if target_params["future_stat"] == "point":
        future = apy[:, last]
    else:
        future = _window_stat(
            apy[:, last - horizon + 1 :],
            target_params["future_stat"],
            target_params["min_future_samples"],
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = (future - start) / np.where(start > 0, start, np.nan)
    target = np.where(pct < target_params["threshold"], DOWN, STABLE_UP)
    labelled = (start > 0) & ~np.isnan(future)
    if target_params["zero_apy_rule"] == "stable_up":
        # From 0% APY the future can only be equal or higher: Stable/Up by definition.
        labelled |= (start == 0) & ~np.isnan(future)
    return np.where(labelled, np.where(start == 0, STABLE_UP, target), np.nan)


def _codes(values: np.ndarray, mapping: Mapping[str, int]) -> np.ndarray:
    """Category codes from a saved mapping; unknown or missing -> -1."""
    return np.array([mapping.get(v, UNKNOWN_CODE) for v in values], dtype=np.int64)


def _numbers(records: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """A numeric field of JSON records as floats (null or absent -> NaN)."""
    return np.array([np.nan if r.get(key) is None else r[key] for r in records], dtype=float)


def _pct_rank(pools: np.ndarray, apy: np.ndarray, market: Sequence[Mapping]) -> np.ndarray:
    """Each APY's percentile rank in a stored market, its pool's stored APY replaced by it.

    As `market._pct_rank`: the average 1-based rank of the tie run the row's value joins.
    """
    reference = np.sort(_numbers(market, "apy"))
    own_apy = {r["pool"]: r["apy"] for r in market}  # the last entry of a pool, like pandas'
    own = np.array([np.nan if own_apy.get(p) is None else own_apy[p] for p in pools], float)
    has_own = ~np.isnan(own)
    below = np.searchsorted(reference, apy, side="left") - (has_own & (own < apy))
    at_most = np.searchsorted(reference, apy, side="right")
    ties = at_most - np.searchsorted(reference, apy, side="left") - (has_own & (own == apy))
    others = len(reference) - has_own
    if not len(reference):
        return np.full(len(apy), np.nan)
    return np.where(np.isnan(apy), np.nan, (below + (ties + 2) / 2) / (others + 1))


def market_features(
    features: Columns, context: Mapping[str, list[dict[str, Any]]], params: Mapping[str, Any]
) -> Columns:
    """The context features of today's rows against a stored single-date market (its JSON)."""
    dates = {r["date"] for r in context["market"]}
    if len(dates) != 1:
        raise ValueError(f"a stored market context holds one date, this one holds {len(dates)}")
    market = context["market"][0]
    apy = features["apy"]
    log_apy = np.log1p(apy)
    # The market's level: yields mean-revert market-wide (log1p, as every APY feature).
    level = np.log1p(_numbers([market], "apy_median")[0])
    out: Columns = {
        "mkt_apy_pct_rank": _pct_rank(features["pool"], apy, context["apy"]),
        "mkt_apy_rel_median": log_apy - level,
        "mkt_median_apy": np.full(len(apy), level),
    }
    for change in params["market_changes"]:
        value = market.get(f"{change}_median")
        out[f"mkt_median_{change}"] = np.full(len(apy), np.nan if value is None else value)
    for scope in ("project", "chain"):
        table = {r[scope]: r for r in context[scope]}
        rows = [table.get(v, {}) for v in features[scope]]
        for change in params["group_changes"]:
            out[f"{scope}_median_{change}"] = _numbers(rows, f"{change}_median")
    missing = np.isnan(apy)
    return {k: np.where(missing, np.nan, v) for k, v in out.items()}


def serving_features(
    state: Columns,
    pools: Columns,
    run_timestamp: np.datetime64,
    mapping: Mapping[str, Mapping[str, int]],
    params: Mapping[str, Any],
    target_params: Mapping[str, Any],
    context: Mapping[str, list[dict[str, Any]]],
) -> Columns:
    """Every feature of today for each pool in `pools`, scored against a stored market.

    `pools` holds one row per pool with today's chain, project and flags (state values fill
    gaps); pools unknown to the state get an empty history. Also `snapshot_apy` and
    `stale_state` (the state is ahead of this run), which decide who is served.
    """
    days = checked_trailing_days(params, target_params)
    today = day_of(run_timestamp)
    stale = stale_pools(state, run_timestamp)
    where = _positions(state["pool"], pools["pool"])
    rows = _take(state, where)
    grid = trailing_grid(rows, today, days)
    features: Columns = {
        "pool": pools["pool"],
        "apy": grid["apy"][:, days],
        "tvlUsd": grid["tvlUsd"][:, days],
        "apyReward": grid["apyReward"][:, days],
        **window_features(grid, params),
        REALISED_TARGET: realised_target(grid["apy"], target_params),
    }
    count, mean, std = expanding(rows, today)
    features.update(n_samples=count, apyMeanExpanding=mean, apyStdExpanding=std)
    for flag in FLAG_FEATURES:
        features[flag] = pools[flag] if flag in pools else rows[f"pending_{flag}"]
    for source, code_column in params["categorical_columns"].items():
        given = pools[source]
        features[source] = np.where([v is None for v in given], rows[source], given)
        features[code_column] = _codes(features[source], mapping[code_column])
    features.update(_point_features(features, rows["first_date"], today))
    features.update(market_features(features, context, params["market_context"]))
    features["snapshot_apy"] = pools["apy"]
    features["stale_state"] = np.isin(where, np.flatnonzero(stale)) & (where >= 0)
    return features


def _point_features(features: Columns, first_date: np.ndarray, today: np.datetime64) -> Columns:
    """APY against its expanding mean, the reward share and the pool's age in days."""
    apy = features["apy"]
    reward = np.nan_to_num(features["apyReward"], nan=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(apy > 0, np.clip(reward / apy, 0.0, 1.0), 0.0)
    first = np.where(np.isnat(first_date), today, first_date)
    return {
        "apy_rel_mean_expanding": np.log1p(apy) - np.log1p(features["apyMeanExpanding"]),
        "reward_share": np.where(np.isnan(apy), np.nan, share),
        "pool_age_days": _days(today - first).astype(np.int64),
    }
