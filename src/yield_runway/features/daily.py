"""Backward-looking per-pool features computed on a regular daily grid (one row per pool-day)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.indexers import BaseIndexer
from pandas.api.typing import Rolling

from yield_runway import labels
from yield_runway.contracts import ORIGINAL_FEATURES
from yield_runway.features import market, state_arrays
from yield_runway.features.state_layout import FLAG_FEATURES, REALISED_TARGET, UNKNOWN_CODE

# Rows per block of the exact rolling std (a block holds rows x window floats, a few times).
STD_CHUNK_ROWS = 2**17


def feature_names(params: Mapping[str, Any]) -> list[str]:
    """List the model features, in a fixed order, for the configured windows, lags and context."""
    windows, lags = params["rolling_windows"], params["change_lags"]
    rolling = [f"apy_{stat}_{w}d" for w in windows for stat in ("mean", "median", "std")]
    relative = [f"apy_rel_mean_{w}d" for w in windows] + ["apy_rel_mean_expanding"]
    changes = [f"{v}_logchg_{k}d" for v in ("apy", "tvl") for k in lags]
    return [
        *ORIGINAL_FEATURES,
        *rolling,
        *relative,
        *changes,
        "reward_share",
        "pool_age_days",
        *FLAG_FEATURES,
        REALISED_TARGET,
        *market.feature_names(params["market_context"]),
    ]


def fit_categorical_mapping(
    frame: pd.DataFrame, columns: Mapping[str, str]
) -> dict[str, dict[str, int]]:
    """Code categories 0..n-1 by first appearance (date, then name), keyed by code column.

    Like DefiLlama's factorize, a code never depends on categories that appear later, so the
    codes of past rows do not shift when the history grows.
    """
    mapping = {}
    for source, code_column in columns.items():
        first_seen = frame.dropna(subset=[source]).groupby(source, observed=True)["date"].min()
        ordered = first_seen.reset_index().sort_values(["date", source], kind="stable")[source]
        mapping[code_column] = {str(name): code for code, name in enumerate(ordered)}
    return mapping


def in_pool_date_order(frame: pd.DataFrame) -> bool:
    """True when rows are sorted by pool, then date (as a stable sort would leave them)."""
    if not frame["pool"].is_monotonic_increasing:
        return False
    pool, date = frame["pool"].to_numpy(), frame["date"].to_numpy()
    if np.isnat(date).any():  # a sort puts missing dates last
        return False
    return not ((pool[1:] == pool[:-1]) & (date[1:] < date[:-1])).any()


def encode_categoricals(
    frame: pd.DataFrame, mapping: Mapping[str, Mapping[str, int]], columns: Mapping[str, str]
) -> pd.DataFrame:
    """Add code columns from a saved mapping; an unknown or missing category gets -1."""
    codes = {}
    for source, code_column in columns.items():
        # Map each distinct category once (a column has few), then spread to the rows.
        rows, categories = pd.factorize(frame[source])
        known = pd.Series(categories).map(mapping[code_column]).fillna(UNKNOWN_CODE)
        known = np.append(known.to_numpy(dtype=np.int64), UNKNOWN_CODE)  # slot -1: missing
        codes[code_column] = pd.Series(known[rows], index=frame.index)
    return frame.assign(**codes)


class _GroupWindows(BaseIndexer):
    """Windows of up to `window` rows (all rows so far if None) that stay inside a row's group.

    Over rows in group order these are exactly the windows `groupby(...).rolling(...)` uses,
    so pandas' window kernels give the same numbers, without a Python loop over groups.
    """

    def __init__(self, group_start: np.ndarray, window: int | None) -> None:
        super().__init__(window_size=window or 0)
        self.group_start = group_start
        self.window = window

    def get_window_bounds(
        self,
        num_values: int = 0,
        min_periods: int | None = None,
        center: bool | None = None,
        closed: str | None = None,
        step: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        end = np.arange(1, num_values + 1, dtype=np.int64)
        if self.window is None:
            return self.group_start, end
        return np.maximum(self.group_start, end - self.window), end


@dataclass(frozen=True)
class PoolGroups:
    """A frame's rows grouped by pool as `groupby(sort=False)` does: groups in order of first
    appearance, rows within a group in frame order."""

    # Frame rows in group order; None when the frame is in group order already.
    order: np.ndarray | None
    # Per row in group order: the position of its group's first row.
    start: np.ndarray

    @classmethod
    def of(cls, pool: pd.Series) -> PoolGroups:
        """Group a frame's rows by its pool column."""
        if pool.is_monotonic_increasing:  # sorted (so no missing pool): groups are runs
            return cls(None, _run_starts(pool.to_numpy()))
        codes, _ = pd.factorize(pool, use_na_sentinel=False)
        order = np.argsort(codes, kind="stable")
        in_order = bool((order == np.arange(len(order))).all())
        return cls(None if in_order else order, _run_starts(codes[order]))

    def arrange(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Values in frame order, in group order (the inverse of `restore`)."""
        values = np.asarray(values)
        return values if self.order is None else values[self.order]

    def rolling(self, values: pd.Series, window: int | None, min_periods: int) -> Rolling:
        """Rolling windows of `values` (in group order) within each pool."""
        indexer = _GroupWindows(self.start, window)
        return pd.Series(self.arrange(values)).rolling(indexer, min_periods=min_periods)

    def rolling_std(self, values: pd.Series, window: int, min_periods: int) -> np.ndarray:
        """Sample std over each row's window within its pool, from the window's own values
        (exact where pandas' sliding variance is not; see `state_arrays.window_std`)."""
        ordered = self.arrange(values.to_numpy(dtype=float))
        out = np.empty(len(ordered))
        lags = np.arange(window - 1, -1, -1)  # oldest first, as the serving grid holds them
        for begin in range(0, len(ordered), STD_CHUNK_ROWS):
            rows = np.arange(begin, min(begin + STD_CHUNK_ROWS, len(ordered)))
            index = rows[:, None] - lags[None, :]
            inside = index >= self.start[rows][:, None]
            windows = np.where(inside, ordered[np.maximum(index, 0)], np.nan)
            out[rows] = state_arrays.window_std(windows, min_periods)
        return self.restore(out)

    def shift(self, values: pd.Series, periods: int) -> np.ndarray:
        """Each row's value `periods` rows earlier in its pool (NaN before the pool's first row)."""
        ordered = self.arrange(values.to_numpy(dtype=float))
        shifted = np.full(len(ordered), np.nan)
        rows = np.arange(periods, len(ordered))
        inside = rows - periods >= self.start[rows]
        shifted[rows[inside]] = ordered[rows[inside] - periods]
        return self.restore(shifted)

    def first_day(self, dates: pd.Series) -> pd.Series:
        """Each row's pool's earliest date, as `groupby(...).transform("min")` gives it."""
        ordered = self.arrange(dates.to_numpy(dtype="datetime64[ns]"))
        heads = self.start == np.arange(len(self.start))
        # fmin skips NaT, as groupby's min does.
        earliest = np.fmin.reduceat(ordered, np.flatnonzero(heads)) if len(ordered) else ordered
        per_row = earliest[np.cumsum(heads) - 1]
        return pd.Series(self.restore(per_row), index=dates.index).astype(dates.dtype)

    def restore(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Values in group order, back in frame order."""
        values = np.asarray(values)
        if self.order is None:
            return values
        out = np.empty_like(values)
        out[self.order] = values
        return out


def _run_starts(values: np.ndarray) -> np.ndarray:
    """Per element, the position of the first element of its run of equal values."""
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    first = np.r_[True, values[1:] != values[:-1]]
    return np.maximum.accumulate(np.where(first, np.arange(len(values)), 0))


def expanding_features(frame: pd.DataFrame, groups: PoolGroups | None = None) -> pd.DataFrame:
    """Add the per-pool count, mean and sample std of APY over all observed days so far."""
    groups = groups or PoolGroups.of(frame["pool"])
    observed = groups.arrange(frame["apy"].notna())
    # Observed days so far in the pool: a running count, less the count before the pool began.
    before = np.r_[0, np.cumsum(observed)]
    count = groups.restore(before[1:] - before[groups.start])
    mean = groups.rolling(frame["apy"], None, 1).mean()
    # Fewer than two samples has no sample std: the contract says 0.
    std = groups.rolling(frame["apy"], None, 2).std().fillna(0.0)
    return frame.assign(
        n_samples=count.astype("int64"),
        apyMeanExpanding=groups.restore(mean),
        apyStdExpanding=groups.restore(std),
    )


def _log_change(current: pd.Series, past: pd.Series) -> pd.Series:
    """Log ratio of (1 + value) now and then: defined at zero, symmetric for rises and falls."""
    return np.log1p(current) - np.log1p(past)


def window_features(
    frame: pd.DataFrame,
    windows: Sequence[int],
    lags: Sequence[int],
    min_periods: Mapping[str, int],
    groups: PoolGroups | None = None,
    threads: int = 1,
) -> pd.DataFrame:
    """Add rolling APY statistics, APY/TVL changes and APY relative to its recent means."""
    groups = groups or PoolGroups.of(frame["pool"])

    def rolled(window: int, stat: str) -> pd.Series:
        if stat == "std":
            values = groups.rolling_std(frame["apy"], window, min_periods[stat])
            return pd.Series(values, index=frame.index)
        values = getattr(groups.rolling(frame["apy"], window, min_periods[stat]), stat)()
        return pd.Series(groups.restore(values), index=frame.index)

    new: dict[str, pd.Series] = {}
    # pandas' window kernels release the GIL: the rolling statistics (medians take most of the
    # time) are computed in `threads` threads while this one computes the changes.
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="windows") as pool:
        stats = sorted(((w, s) for w in windows for s in ("mean", "median", "std")), key=_cost)
        rolling = {(w, s): pool.submit(rolled, w, s) for w, s in stats}
        # Today's log1p is shared by every change of a column (the same numbers as _log_change).
        now = {column: np.log1p(frame[column]) for column in ("apy", "tvlUsd")}
        changes = {}
        for k in lags:
            changes[f"apy_logchg_{k}d"] = now["apy"] - np.log1p(groups.shift(frame["apy"], k))
            changes[f"tvl_logchg_{k}d"] = now["tvlUsd"] - np.log1p(groups.shift(frame["tvlUsd"], k))
        for w in windows:
            for stat in ("mean", "median", "std"):
                new[f"apy_{stat}_{w}d"] = rolling[w, stat].result()
            new[f"apy_rel_mean_{w}d"] = now["apy"] - np.log1p(new[f"apy_mean_{w}d"])
    return frame.assign(**new, **changes)


def _cost(window_stat: tuple[int, str]) -> tuple[bool, int]:
    """Sort key putting the costliest rolling statistics first: medians, longest windows."""
    window, stat = window_stat
    return stat != "median", -window


def point_features(frame: pd.DataFrame, first_day: pd.Series | None = None) -> pd.DataFrame:
    """Add features of the day itself: APY vs expanding mean, reward share and pool age.

    `first_day` is each row's pool's first observed day; by default the first date of the pool's
    rows in `frame` (the hourly run passes it from the feature state instead of a full grid).
    """
    apy = frame["apy"]
    reward = frame["apyReward"].fillna(0.0)
    # No APY means no reward share; an observed zero APY has a zero share, not NaN.
    share = pd.Series(np.where(apy > 0, (reward / apy).clip(0.0, 1.0), 0.0), index=frame.index)
    # A pool's grid starts on its first observed day, so age counts days since launch/listing.
    if first_day is None:
        first_day = frame.groupby("pool", sort=False, observed=True)["date"].transform("min")
    return frame.assign(
        apy_rel_mean_expanding=_log_change(apy, frame["apyMeanExpanding"]),
        reward_share=share.where(apy.notna()),
        pool_age_days=(frame["date"] - first_day).dt.days.astype("int64"),
    )


def realised_target(
    frame: pd.DataFrame, target_params: Mapping[str, Any], groups: PoolGroups | None = None
) -> np.ndarray:
    """Each day's latest realised label: the label of the day `horizon` days earlier.

    That label's window (the `horizon` days after it) ends today, so it is known today; it is the
    persistence forecast of the label. NaN where that day has no label.
    """
    groups = groups or PoolGroups.of(frame["pool"])
    target = labels.label_rows(frame, target_params)["target"]
    return groups.shift(target, target_params["horizon_days"])


def build_features(
    daily: pd.DataFrame,
    mapping: Mapping[str, Mapping[str, int]],
    params: Mapping[str, Any],
    target_params: Mapping[str, Any],
) -> pd.DataFrame:
    """Compute every feature for every pool-day of a daily grid sorted by pool and date."""
    frame = encode_categoricals(daily, mapping, params["categorical_columns"])
    groups = PoolGroups.of(frame["pool"])
    frame = expanding_features(frame, groups)
    frame = window_features(
        frame,
        params["rolling_windows"],
        params["change_lags"],
        params["min_periods"],
        groups,
        threads=params["window_threads"],
    )
    frame = point_features(frame, first_day=groups.first_day(frame["date"]))
    frame = frame.assign(**{REALISED_TARGET: realised_target(frame, target_params, groups)})
    return market.add_features(frame, params["market_context"])
