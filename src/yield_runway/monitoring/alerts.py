"""Monitoring alerts: a Discord-compatible webhook message, posted with bounded retries.

A failing webhook is logged and reported, never raised: the monitoring reports are the product,
the alert is a courtesy. The webhook URL is a secret and is never logged or returned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests

from yield_runway.retry_after import parse_retry_after

logger = logging.getLogger(__name__)

# Discord's documented limits: message content 2000 characters, embed description 4096, 25 fields.
CONTENT_LIMIT = 2000
DESCRIPTION_LIMIT = 4096
FIELDS_LIMIT = 25
RED, ORANGE = 0xE74C3C, 0xE67E22


def _number(value: Any, digits: int = 3) -> str:
    """A metric as short text; missing values as 'n/a'."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def drift_embed(
    drift_summary: Mapping[str, Any], drift_report: Sequence[Mapping[str, Any]], max_fields: int
) -> dict[str, Any]:
    """An embed listing the drifted features, largest distance first."""
    drifted = sorted(
        (entry for entry in drift_report if entry["drifted"]),
        key=lambda entry: -(entry["value"] or 0.0),
    )
    fields = [
        {
            "name": entry["feature"],
            "value": f"{entry['statistic']} {_number(entry['value'])} "
            f"(threshold {_number(entry['threshold'], 2)})"
            + (
                f", {entry['n_out_of_range']} of {entry['n_current']} out of range"
                if entry.get("n_out_of_range")
                else ""
            ),
            "inline": False,
        }
        for entry in drifted[: min(max_fields, FIELDS_LIMIT)]
    ]
    description = (
        f"{drift_summary['n_drifted']} of {drift_summary['n_features']} features drifted: "
        f"run {drift_summary.get('current_run_timestamp')} "
        f"({drift_summary.get('n_current')} pools, population {drift_summary.get('population')}) "
        f"vs the training reference ({drift_summary.get('n_reference')} pools)."
    )
    return {
        "title": "Feature drift",
        "description": description[:DESCRIPTION_LIMIT],
        "color": ORANGE,
        "fields": fields,
    }


def decay_embed(realised_summary: Mapping[str, Any]) -> dict[str, Any]:
    """An embed with the latest rolling window's realised AUC, Brier score and size."""
    latest = realised_summary["latest_window"] or {}
    description = (
        f"Realised ROC AUC {_number(latest.get('roc_auc'))} < {realised_summary['min_auc']} "
        f"over predictions made {latest.get('window_start')}..{latest.get('date')} "
        f"({latest.get('n')} served pool-days)."
    )
    fields = [
        {"name": "Brier score", "value": _number(latest.get("brier")), "inline": True},
        {"name": "Positive rate", "value": _number(latest.get("positive_rate")), "inline": True},
        {
            "name": "Mean P(Stable/Up)",
            "value": _number(latest.get("mean_prediction")),
            "inline": True,
        },
    ]
    return {
        "title": "Model decay",
        "description": description[:DESCRIPTION_LIMIT],
        "color": RED,
        "fields": fields,
    }


def build_message(
    drift_summary: Mapping[str, Any],
    drift_report: Sequence[Mapping[str, Any]],
    realised_summary: Mapping[str, Any],
    params: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The webhook payload for whatever is flagged, or None when nothing is."""
    embeds, reasons = [], []
    if drift_summary["drift_flagged"]:
        reasons.append(f"drift in {drift_summary['n_drifted']} feature(s)")
        embeds.append(drift_embed(drift_summary, drift_report, params["max_fields"]))
    if realised_summary["decay_flagged"]:
        reasons.append("realised AUC below threshold")
        embeds.append(decay_embed(realised_summary))
    if not embeds:
        return None
    content = f"{params['title']}: " + " and ".join(reasons)
    return {"content": content[:CONTENT_LIMIT], "embeds": embeds}


def _retry_wait(
    retry: int, response: requests.Response | None, backoff: Mapping[str, Any]
) -> float:
    """Seconds before retry number `retry`: the server's Retry-After if given, else exponential."""
    wait = backoff["base_s"] * backoff["factor"] ** retry
    if response is not None:
        asked = parse_retry_after(response.headers.get("Retry-After"))
        if asked is not None:
            wait = asked
    return min(wait, backoff["max_s"])


def _retryable(response: requests.Response) -> bool:
    """Rate limits and server errors may pass on a later attempt; other 4xx never will."""
    return response.status_code == 429 or response.status_code >= 500


def post_webhook(
    url: str,
    payload: Mapping[str, Any],
    params: Mapping[str, Any],
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """POST a JSON payload, retrying connection errors, 429 and 5xx; report, never raise."""
    attempts, status, error = 0, None, None
    for retry in range(params["max_retries"] + 1):
        attempts += 1
        response = None
        try:
            response = requests.post(url, json=payload, timeout=params["timeout_s"])
            status = response.status_code
            if response.ok:
                return {"sent": True, "attempts": attempts, "http_status": status, "error": None}
            error = f"HTTP {status}"
            if not _retryable(response):
                break
        except requests.RequestException as exc:
            # The exception text can contain the URL, which is a secret: keep only its type.
            status, error = None, type(exc).__name__
        if retry < params["max_retries"]:
            wait = _retry_wait(retry, response, params["backoff"])
            logger.warning(
                "Monitoring webhook attempt %d failed (%s); retrying in %.1f s",
                attempts,
                error,
                wait,
            )
            sleep(wait)
    logger.error("Monitoring webhook failed after %d attempt(s): %s", attempts, error)
    return {"sent": False, "attempts": attempts, "http_status": status, "error": error}


def send_alert(
    payload: Mapping[str, Any] | None,
    webhook: Mapping[str, Any] | None,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """Post the payload if there is one and a webhook is configured; record what happened."""
    record: dict[str, Any] = {
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "flagged": payload is not None,
        "configured": bool(webhook and webhook.get("url")),
        "content": None if payload is None else payload["content"],
        "sent": False,
        "attempts": 0,
        "http_status": None,
        "error": None,
    }
    if payload is None:
        return {**record, "status": "no_flag"}
    if not record["configured"]:
        logger.warning("Monitoring flagged (%s) but no webhook is configured", payload["content"])
        return {**record, "status": "not_configured"}
    result = post_webhook(webhook["url"], payload, params)
    return {**record, **result, "status": "sent" if result["sent"] else "failed"}
