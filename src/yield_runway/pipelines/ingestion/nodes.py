"""Nodes of the ingestion pipeline: live DefiLlama yields API -> training raw format."""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from yield_runway.contracts import HISTORY_COLUMNS
from yield_runway.ingestion import responses
from yield_runway.ingestion.client import FetchError, RetryPolicy, YieldsClient
from yield_runway.ingestion.fetcher import ProgressLog, fetch_charts
from yield_runway.ingestion.partition_store import PartitionStore
from yield_runway.ingestion.rate_limit import TokenBucket

logger = logging.getLogger(__name__)

_NUMERIC_COLUMNS = ["tvlUsd", "apy", "apyBase", "apyReward"]


class IngestionError(RuntimeError):
    """The ingestion run cannot produce trustworthy training data."""


def _make_client(params: dict[str, Any], stop: threading.Event | None = None) -> YieldsClient:
    backoff = params["backoff"]
    return YieldsClient(
        base_url=params["base_url"],
        limiter=TokenBucket(params["requests_per_second"], params["burst"]),
        retry=RetryPolicy(
            max_retries=params["max_retries"],
            backoff_base_s=backoff["base_s"],
            backoff_factor=backoff["factor"],
            backoff_max_s=backoff["max_s"],
            jitter=backoff["jitter"],
        ),
        timeout_s=params["timeout_s"],
        stop=stop,
    )


def fetch_pools_snapshot(params: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Fetch the /pools snapshot (the dataEnriched.json array) and the request counts."""
    started = time.monotonic()
    client = _make_client(params)
    try:
        pools, without_pool = responses.pools_snapshot(client.pools())
    except (FetchError, responses.BadResponse) as exc:
        # Without the snapshot there is nothing to select from: fail loudly, not per pool.
        raise IngestionError(f"GET {client.base_url}/pools failed: {exc}") from exc
    finally:
        client.close()
    if without_pool:
        logger.warning("/pools: dropped %d entries without a string 'pool'", without_pool)
    logger.info("/pools: %d pools in the snapshot", len(pools))
    stats = {
        "pools_in_snapshot": len(pools),
        "snapshot_entries_without_pool": without_pool,
        "seconds": time.monotonic() - started,
        **client.stats(),
    }
    return pools, stats


def _matches(value: Any, allowed: list[str] | None) -> bool:
    # null or [] means "no filter"; matching ignores case because the API's casing of chain
    # names ("BSC" vs "Bsc") is not something a config file should have to track.
    if not allowed:
        return True
    return isinstance(value, str) and value.lower() in {a.lower() for a in allowed}


def _tvl(pool: dict[str, Any]) -> float:
    value = pool.get("tvlUsd")
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return 0.0
    return float(value)


def select_pools(
    pools_snapshot: list[dict[str, Any]], selection: dict[str, Any]
) -> list[dict[str, Any]]:
    """Pick the pools to fetch: filtered by TVL, chain, project, stablecoin; largest TVL first."""
    chosen = [
        pool
        for pool in pools_snapshot
        if _tvl(pool) >= selection["min_tvl_usd"]
        and _matches(pool.get("chain"), selection["chains"])
        and _matches(pool.get("project"), selection["projects"])
        and (not selection["stablecoin_only"] or pool.get("stablecoin") is True)
    ]
    # TVL ties are broken by pool id so the same snapshot always gives the same selection.
    chosen.sort(key=lambda pool: (-_tvl(pool), pool["pool"]))
    if selection["max_pools"] is not None:
        chosen = chosen[: selection["max_pools"]]
    if not chosen:
        raise IngestionError(f"no pool in the snapshot matches the selection {selection}")
    logger.info("selected %d of %d pools", len(chosen), len(pools_snapshot))
    return chosen


def fetch_pool_charts(
    selected_pools: list[dict[str, Any]],
    chart_store: PartitionStore,
    snapshot_stats: dict[str, Any],
    params: dict[str, Any],
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Fetch the selected pools' /chart histories into the store, resuming; summarise the run."""
    started_at = datetime.now(UTC)
    started = time.monotonic()
    stop = threading.Event()
    client = _make_client(params, stop)
    pool_ids = [pool["pool"] for pool in selected_pools]

    def fetch_one(pool_id: str) -> list[dict[str, Any]]:
        return responses.chart(client.chart(pool_id), pool_id)

    max_age_hours = params["resume_max_age_hours"]
    try:
        report = fetch_charts(
            pool_ids,
            chart_store,
            fetch_one,
            source=client.base_url,
            max_workers=params["max_workers"],
            max_failures=math.floor(params["max_failed_share"] * len(pool_ids)),
            max_age=None if max_age_hours is None else timedelta(hours=max_age_hours),
            progress=ProgressLog(
                len(pool_ids), params["progress"]["every_pools"], params["progress"]["every_s"]
            ),
            requests_made=lambda: client.requests,
            stop=stop,
        )
    finally:
        client.close()

    http = client.stats()
    n_failed = sum(report.failed.values())
    failed_share = n_failed / len(pool_ids)
    summary = {
        "status": "failed" if failed_share > params["max_failed_share"] else "ok",
        "base_url": client.base_url,
        "started_at": started_at.isoformat(),
        "pools_in_snapshot": snapshot_stats["pools_in_snapshot"],
        "pools_selected": len(pool_ids),
        "pools_fetched": report.fetched,
        "pools_already_present": report.already_present,
        "pools_refetched_by_reason": dict(sorted(report.refetched.items())),
        "pools_failed": n_failed,
        "pools_failed_by_reason": dict(sorted(report.failed.items())),
        "pools_not_attempted": report.not_attempted,
        "failed_share": round(failed_share, 4),
        "max_failed_share": params["max_failed_share"],
        "aborted_early": report.aborted_early,
        "requests": http["requests"] + snapshot_stats["requests"],
        "retries": http["retries"] + snapshot_stats["retries"],
        "chart_responses": http["responses"],
        "seconds": round(time.monotonic() - started + snapshot_stats["seconds"], 2),
        "failed_pools": report.failures,
    }
    logger.info(
        "ingestion summary: %s",
        {k: v for k, v in summary.items() if k not in ("failed_pools", "chart_responses")},
    )
    return report.charts, summary


def check_failed_share(
    summary: dict[str, Any], charts: dict[str, list[dict[str, Any]]], max_failed_share: float
) -> dict[str, list[dict[str, Any]]]:
    """Pass the histories on only if the share of failed pools is within the limit."""
    failed_share = summary["pools_failed"] / summary["pools_selected"]
    if failed_share > max_failed_share or summary["aborted_early"]:
        raise IngestionError(
            f"{summary['pools_failed']} of {summary['pools_selected']} pools failed "
            f"(share {failed_share:.2%} > allowed {max_failed_share:.2%}); "
            f"by reason: {summary['pools_failed_by_reason']}; "
            f"{summary['pools_fetched'] + summary['pools_already_present']} pool histories are "
            "kept in the partition store and will not be refetched on the next run; "
            "pools_history was not written. Full summary in the ingestion_summary dataset."
        )
    return charts


def build_pools_history(
    selected_pools: list[dict[str, Any]], charts: dict[str, list[dict[str, Any]]]
) -> pd.DataFrame:
    """Turn chart points plus each pool's chain/project/symbol into the pools.csv format."""
    rows = [
        {
            "timestamp": point["timestamp"],
            "pool": pool["pool"],
            "chain": pool.get("chain"),
            "project": pool.get("project"),
            "symbol": pool.get("symbol"),
            "tvlUsd": point.get("tvlUsd"),
            "apy": point.get("apy"),
            "apyBase": point.get("apyBase"),
            "apyReward": point.get("apyReward"),
        }
        for pool in selected_pools
        for point in charts.get(pool["pool"], [])
    ]
    history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    # Always float: the column's text form must not flip between "5" and "5.0" from run to
    # run depending on whether some pool happened to have a null.
    history[_NUMERIC_COLUMNS] = history[_NUMERIC_COLUMNS].apply(pd.to_numeric).astype("float64")
    when = pd.to_datetime(history["timestamp"], utc=True, format="ISO8601")
    history = (
        history.assign(_when=when)
        # A repeated point for the same instant is the API re-serving it; keep the latest.
        .drop_duplicates(subset=["pool", "_when"], keep="last")
        .sort_values(["_when", "pool"], kind="mergesort")
        .reset_index(drop=True)
    )
    # pools.csv timestamps: ISO-8601 UTC with milliseconds, e.g. 2025-03-01T00:00:00.000Z.
    history["timestamp"] = history["_when"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    return history[HISTORY_COLUMNS]


def publish_snapshot(snapshot: list[dict[str, Any]], pools_history: Any) -> list[dict[str, Any]]:
    """The fetched /pools snapshot, to store now that the history it pairs with is stored."""
    logger.info("History stored: storing the snapshot of %d pools with it", len(snapshot))
    return snapshot
