"""The feature state's columns and the feature names the serving paths share (no pandas).

Both the hourly run (pandas, `features.state`) and the API (NumPy, `serving.pool_features`)
read a state laid out so; see `features.state` for what each column holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FLAG_FEATURES = ("stablecoin", "ilRisk", "exposure")
UNKNOWN_CODE = -1
# The pool's latest realised label: the day `horizon` days back, whose window has now passed.
REALISED_TARGET = "realised_target"
TRAILED = ("apy", "tvlUsd")
PENDING_VALUES = ("apy", "tvlUsd", "apyReward", *FLAG_FEATURES)
TEXT_COLUMNS = ("pool", "chain", "project")
DATE_COLUMNS = ("first_date", "last_date", "pending_date", "pending_timestamp")
# Suffix of a text column's missing mask in the state's NumPy columns (`state.to_arrays`).
MISSING = ".missing"


def trailing_days(params: Mapping[str, Any]) -> int:
    """Days of trailing values the features need: the longest rolling window or change lag."""
    return max(max(params["rolling_windows"]), max(params["change_lags"]))


def checked_trailing_days(params: Mapping[str, Any], target_params: Mapping[str, Any]) -> int:
    """The trailing days, refused when fewer than the label horizon the realised label needs."""
    days = trailing_days(params)
    if days < target_params["horizon_days"]:
        raise ValueError(
            f"the feature state keeps {days} trailing days, fewer than the label horizon "
            f"({target_params['horizon_days']}) that the realised label needs"
        )
    return days


def trail_columns(value: str, days: int) -> list[str]:
    """State columns holding a value's trailing daily history, newest (t0 = last_date) first."""
    return [f"{value}_t{k}" for k in range(days)]


def state_columns(days: int) -> list[str]:
    """Every column of a feature state, in a fixed order."""
    return [
        *TEXT_COLUMNS,
        "first_date",
        "last_date",
        "count",
        "mean",
        "M2",
        *[c for value in TRAILED for c in trail_columns(value, days)],
        "pending_date",
        "pending_timestamp",
        *[f"pending_{v}" for v in PENDING_VALUES],
    ]
