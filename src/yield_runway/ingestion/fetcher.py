"""Concurrent, resumable fetch of per-pool chart histories with progress logging."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from yield_runway.ingestion import responses
from yield_runway.ingestion.client import FetchError
from yield_runway.ingestion.partition_store import PartitionStore

logger = logging.getLogger(__name__)


@dataclass
class FetchReport:
    """What happened to each selected pool."""

    charts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fetched: int = 0
    already_present: int = 0
    refetched: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, str]] = field(default_factory=list)
    not_attempted: int = 0
    aborted_early: bool = False


class ProgressLog:
    """One log line every ``every_pools`` finished pools or ``every_s`` seconds, not per pool."""

    def __init__(
        self,
        total: int,
        every_pools: int,
        every_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.every_pools = max(1, every_pools)
        self.every_s = every_s
        self._clock = clock
        self._started = self._last_time = clock()
        self._last_done = 0

    def update(self, done: int, report: FetchReport, requests: int, *, force: bool = False) -> None:
        """Log progress if enough pools or time have passed since the last line."""
        now = self._clock()
        due = done - self._last_done >= self.every_pools or now - self._last_time >= self.every_s
        if not (due or force):
            return
        elapsed = now - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("nan")
        logger.info(
            "charts %d/%d: fetched %d, failed %d; %d requests, %.1f pools/s, eta %.0fs",
            done,
            self.total,
            report.fetched,
            sum(report.failed.values()),
            requests,
            rate,
            eta,
        )
        self._last_done, self._last_time = done, now


def _reusable(
    payload: Any, pool_id: str, source: str, max_age: timedelta | None, now: datetime
) -> tuple[list[dict[str, Any]] | None, str]:
    """The stored points of a partition if it can be reused, else (None, why not)."""
    if not isinstance(payload, dict) or payload.get("pool") != pool_id:
        return None, "corrupt"
    if payload.get("source") != source:
        return None, "other_source"
    try:
        fetched_at = responses.parse_timestamp(payload.get("fetched_at"))
        points = responses.chart_points(payload.get("data"), pool_id)
    except responses.BadResponse:
        return None, "corrupt"
    if max_age is not None and now - fetched_at > max_age:
        return None, "stale"
    return points, ""


def _load_present(
    pool_ids: list[str],
    store: PartitionStore,
    source: str,
    max_age: timedelta | None,
    now: datetime,
    report: FetchReport,
) -> list[str]:
    """Reuse partitions already written; return the pools that still need fetching."""
    loaders = store.load_all()
    to_fetch = []
    for pool_id in pool_ids:
        points, why = None, ""
        if pool_id in loaders:
            try:
                points, why = _reusable(loaders[pool_id](), pool_id, source, max_age, now)
            except Exception:  # noqa: BLE001 - a half-written file from a kill is just refetched
                points, why = None, "corrupt"
        if points is not None:
            report.charts[pool_id] = points
            report.already_present += 1
        else:
            if why:
                report.refetched[why] += 1
            to_fetch.append(pool_id)
    return to_fetch


def fetch_charts(  # noqa: PLR0913 - each knob is a separate parameter of the run
    pool_ids: Iterable[str],
    store: PartitionStore,
    fetch_one: Callable[[str], list[dict[str, Any]]],
    *,
    source: str,
    max_workers: int,
    max_failures: int | None,
    max_age: timedelta | None,
    progress: ProgressLog,
    requests_made: Callable[[], int],
    stop: threading.Event,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FetchReport:
    """Fetch every pool not already in ``store``, writing each partition as soon as it arrives.

    ``fetch_one`` returns a pool's validated points or raises FetchError/BadResponse (counted
    by reason). Work stops early once failures exceed ``max_failures``, since the run is bound
    to fail. On any other exception (including KeyboardInterrupt) queued work is cancelled and
    the exception propagates; partitions already written stay, so the next run resumes.
    """
    pool_ids = list(pool_ids)
    report = FetchReport()
    to_fetch = _load_present(pool_ids, store, source, max_age, now(), report)
    logger.info(
        "charts: %d selected, %d already present, %d to fetch",
        len(pool_ids),
        report.already_present,
        len(to_fetch),
    )
    if not to_fetch:
        return report

    executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="chart")
    try:
        pending: dict[Future, str] = {executor.submit(fetch_one, p): p for p in to_fetch}
        done_count = report.already_present
        while pending:
            # A timeout keeps the progress heartbeat going while a slow pool is in flight.
            finished, _ = wait(pending, timeout=progress.every_s, return_when=FIRST_COMPLETED)
            for future in finished:
                pool_id = pending.pop(future)
                done_count += 1
                try:
                    points = future.result()
                except (FetchError, responses.BadResponse) as exc:
                    report.failed[exc.reason] += 1
                    report.failures.append(
                        {"pool": pool_id, "reason": exc.reason, "detail": exc.detail}
                    )
                    logger.debug("pool %s skipped: %s", pool_id, exc)
                    continue
                # Written from this (main) thread only, as each pool completes.
                store.save(
                    pool_id,
                    {
                        "pool": pool_id,
                        "source": source,
                        "fetched_at": now().isoformat(),
                        "data": points,
                    },
                )
                report.charts[pool_id] = points
                report.fetched += 1
            progress.update(done_count, report, requests_made())
            if max_failures is not None and sum(report.failed.values()) > max_failures:
                report.aborted_early = True
                report.not_attempted = len(pending)
                logger.error(
                    "charts: %d pools failed, more than the %d allowed; stopping early",
                    sum(report.failed.values()),
                    max_failures,
                )
                break
        progress.update(done_count, report, requests_made(), force=True)
    finally:
        # Runs on success, early abort and interrupts alike: nothing new starts, in-flight
        # requests give up at their next rate-limit or backoff wait.
        stop.set()
        executor.shutdown(wait=True, cancel_futures=True)
    # Futures still running when we broke out may have finished meanwhile; they are counted as
    # not attempted rather than silently saved after the decision to fail was taken.
    return report
