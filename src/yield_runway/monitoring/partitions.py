"""The stored hourly runs: partition ids (UTC run hours in `inference.partition_format`, the
one definition of the format) of a PartitionedDataset."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

import pandas as pd

logger = logging.getLogger(__name__)

Partitions = Mapping[str, Callable[[], pd.DataFrame]]


def partition_id(run_time: pd.Timestamp, fmt: str) -> str:
    """The partition id of a run at a given UTC time."""
    return run_time.strftime(fmt)


def partition_times(ids: Iterable[str], fmt: str) -> pd.Series:
    """Run hour (UTC, tz-naive) per partition id, sorted; ids that are not run hours are skipped."""
    ids = list(ids)
    times = pd.Series(pd.to_datetime(ids, format=fmt, errors="coerce"), index=ids)
    if times.isna().any():
        logger.warning(
            "Ignoring partitions that are not run hours: %s", list(times[times.isna()].index)
        )
    return times.dropna().sort_values()


def select_run(partitions: Partitions, chosen: str | None, fmt: str) -> str:
    """The id of the chosen run, or of the latest one when none is chosen."""
    times = partition_times(partitions, fmt)
    if times.empty:
        raise ValueError("No hourly prediction runs are stored: run the inference pipeline first")
    if chosen is None:
        return str(times.index[-1])
    if chosen not in times.index:
        raise ValueError(f"Run {chosen!r} is not stored; latest is {times.index[-1]!r}")
    return chosen


def runs_by_day(
    partitions: Partitions, lookback_days: int | None, fmt: str
) -> dict[pd.Timestamp, list[str]]:
    """Run ids grouped by UTC day, for days within lookback_days of the latest run (None: all)."""
    times = partition_times(partitions, fmt)
    if times.empty:
        return {}
    days = times.dt.normalize()
    if lookback_days is not None:
        days = days.loc[days >= days.iloc[-1] - pd.Timedelta(days=lookback_days)]
    return {day: list(ids.index) for day, ids in days.groupby(days, sort=True)}
