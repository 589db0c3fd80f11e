"""Date-based evaluation splits with a purge gap: walk-forward folds and an out-of-time holdout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def _day(value: np.datetime64 | pd.Timestamp) -> str:
    """Format a date as YYYY-MM-DD."""
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def purged_splits(
    dates: pd.Series,
    holdout_fraction: float,
    purge_days: int,
    n_folds: int,
    min_train_days: int,
) -> dict:
    """Split labelled dates into walk-forward folds and a holdout, each purged before it."""
    unique = np.sort(pd.to_datetime(dates).unique())
    if len(unique) < 2:
        raise ValueError("Need at least two labelled dates to split")
    purge = pd.Timedelta(days=purge_days)
    holdout_start = pd.Timestamp(unique[int(np.floor(len(unique) * (1 - holdout_fraction)))])
    # Training rows must satisfy date + purge < validation start: their label windows end before it.
    dev_end = holdout_start - purge - pd.Timedelta(days=1)
    first = pd.Timestamp(unique[0])
    cv_start = first + pd.Timedelta(days=min_train_days) + purge
    if cv_start + pd.Timedelta(days=n_folds) > dev_end:
        raise ValueError(
            f"Too few dates for {n_folds} purged folds: development period {_day(first)}.."
            f"{_day(dev_end)}, first validation date {_day(cv_start)}. Lower cv_folds, "
            "min_train_days or holdout_fraction, or train on a longer history."
        )
    edges = pd.date_range(cv_start, dev_end + pd.Timedelta(days=1), periods=n_folds + 1).floor("D")
    folds = [
        {
            "fold": i,
            "train_end": _day(start - purge - pd.Timedelta(days=1)),
            "validation_start": _day(start),
            "validation_end": _day(end - pd.Timedelta(days=1)),
        }
        for i, (start, end) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    ]
    return {
        "first_date": _day(first),
        "last_date": _day(unique[-1]),
        "purge_days": purge_days,
        "folds": folds,
        "development_end": _day(dev_end),
        "holdout_start": _day(holdout_start),
        "holdout_end": _day(unique[-1]),
    }


def in_range(dates: pd.Series, start: str | None, end: str) -> np.ndarray:
    """Boolean mask of dates in [start, end] (start None means from the beginning)."""
    dates = pd.to_datetime(dates)
    mask = dates <= pd.Timestamp(end)
    if start is not None:
        mask &= dates >= pd.Timestamp(start)
    return mask.to_numpy()


def holdout_rows(table: pd.DataFrame, splits: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of `table` whose date lies in the holdout of `splits`."""
    return table.loc[in_range(table["date"], splits["holdout_start"], splits["holdout_end"])]
