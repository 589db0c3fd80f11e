"""Backward-looking per-pool features computed on a regular daily grid (one row per pool-day)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

ORIGINAL_FEATURES = [
    "apy",
    "tvlUsd",
    "apyMeanExpanding",
    "apyStdExpanding",
    "chain_factorized",
    "project_factorized",
]
FLAG_FEATURES = ["stablecoin", "ilRisk", "exposure"]
UNKNOWN_CODE = -1


def feature_names(windows: Sequence[int], lags: Sequence[int]) -> list[str]:
    """List the model features, in a fixed order, for the given windows and lags."""
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


def encode_categoricals(
    frame: pd.DataFrame, mapping: Mapping[str, Mapping[str, int]], columns: Mapping[str, str]
) -> pd.DataFrame:
    """Add code columns from a saved mapping; an unknown or missing category gets -1."""
    codes = {
        code_column: frame[source].map(mapping[code_column]).fillna(UNKNOWN_CODE).astype("int64")
        for source, code_column in columns.items()
    }
    return frame.assign(**codes)


def expanding_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the per-pool count, mean and sample std of APY over all observed days so far."""
    by_pool = frame.groupby("pool", sort=False, observed=True)["apy"]
    count = frame["apy"].notna().groupby(frame["pool"], sort=False, observed=True).cumsum()
    mean = by_pool.expanding(min_periods=1).mean().droplevel(0)
    # Fewer than two samples has no sample std: the contract says 0.
    std = by_pool.expanding(min_periods=2).std().droplevel(0).fillna(0.0)
    return frame.assign(
        n_samples=count.astype("int64"),
        apyMeanExpanding=mean.reindex(frame.index),
        apyStdExpanding=std.reindex(frame.index),
    )


def _log_change(current: pd.Series, past: pd.Series) -> pd.Series:
    """Log ratio of (1 + value) now and then: defined at zero, symmetric for rises and falls."""
    return np.log1p(current) - np.log1p(past)


def window_features(
    frame: pd.DataFrame,
    windows: Sequence[int],
    lags: Sequence[int],
    min_periods: Mapping[str, int],
) -> pd.DataFrame:
    """Add rolling APY statistics, APY/TVL changes and APY relative to its recent means."""
    by_pool = frame.groupby("pool", sort=False, observed=True)
    apy = by_pool["apy"]
    new: dict[str, pd.Series] = {}
    for w in windows:
        for stat in ("mean", "median", "std"):
            rolled = getattr(apy.rolling(w, min_periods=min_periods[stat]), stat)()
            new[f"apy_{stat}_{w}d"] = rolled.droplevel(0).reindex(frame.index)
        new[f"apy_rel_mean_{w}d"] = _log_change(frame["apy"], new[f"apy_mean_{w}d"])
    for k in lags:
        new[f"apy_logchg_{k}d"] = _log_change(frame["apy"], apy.shift(k))
        new[f"tvl_logchg_{k}d"] = _log_change(frame["tvlUsd"], by_pool["tvlUsd"].shift(k))
    return frame.assign(**new)


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


def build_features(
    daily: pd.DataFrame, mapping: Mapping[str, Mapping[str, int]], params: Mapping[str, Any]
) -> pd.DataFrame:
    """Compute every feature for every pool-day of a daily grid sorted by pool and date."""
    frame = encode_categoricals(daily, mapping, params["categorical_columns"])
    frame = expanding_features(frame)
    frame = window_features(
        frame, params["rolling_windows"], params["change_lags"], params["min_periods"]
    )
    return point_features(frame)
