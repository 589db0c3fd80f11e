"""The APY-runway label: does a pool keep its APY over the next horizon of calendar days."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from yield_runway.contracts import DOWN, STABLE_UP

FUTURE_STATS = ("point", "mean", "median")
ZERO_APY_RULES = ("exclude", "stable_up")


def future_apy(frame: pd.DataFrame, horizon: int, stat: str, min_samples: int) -> pd.Series:
    """APY over days d+1..d+horizon of each pool on a daily grid sorted by pool and date."""
    if stat not in FUTURE_STATS:
        raise ValueError(f"future_stat must be one of {FUTURE_STATS}, got {stat!r}")
    by_pool = frame.groupby("pool", sort=False, observed=True)["apy"]
    if stat == "point":
        return by_pool.shift(-horizon)
    # The trailing window ending on day d+horizon covers exactly days d+1..d+horizon.
    trailing = getattr(by_pool.rolling(horizon, min_periods=min_samples), stat)().droplevel(0)
    trailing = trailing.reindex(frame.index)
    return trailing.groupby(frame["pool"], sort=False, observed=True).shift(-horizon)


def label_rows(frame: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """Add apyFuture, pct_change and target (1 Stable/Up, 0 Down, NaN unlabelled) per pool-day."""
    rule = params["zero_apy_rule"]
    if rule not in ZERO_APY_RULES:
        raise ValueError(f"zero_apy_rule must be one of {ZERO_APY_RULES}, got {rule!r}")
    apy = frame["apy"]
    future = future_apy(
        frame, params["horizon_days"], params["future_stat"], params["min_future_samples"]
    )
    positive = apy > 0
    pct = (future - apy) / apy.where(positive)
    target = np.where(pct < params["threshold"], DOWN, STABLE_UP).astype(float)
    labelled = positive & future.notna()
    if rule == "stable_up":
        # From 0% APY the future can only be equal or higher: Stable/Up by definition.
        labelled |= apy.eq(0) & future.notna()
    target = np.where(labelled, np.where(apy.eq(0), STABLE_UP, target), np.nan)
    return frame.assign(apyFuture=future, pct_change=pct, target=target)
