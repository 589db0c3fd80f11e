"""The alert webhook against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from tests.monitoring.webhook_server import webhook_server
from yield_runway.monitoring.alerts import build_message, post_webhook, send_alert

PARAMS = {
    "title": "yield-runway monitoring",
    "max_fields": 10,
    "timeout_s": 5,
    "max_retries": 2,
    "backoff": {"base_s": 0.01, "factor": 2.0, "max_s": 0.05},
}
DRIFT_REPORT = [
    {
        "feature": "apy",
        "statistic": "wasserstein_over_std",
        "value": 0.8,
        "threshold": 0.1,
        "drifted": True,
        "n_current": 100,
        "n_out_of_range": 3,
    },
    {
        "feature": "tvlUsd",
        "statistic": "wasserstein_over_std",
        "value": 0.02,
        "threshold": 0.1,
        "drifted": False,
        "n_current": 100,
        "n_out_of_range": 0,
    },
]
DRIFTED = {"drift_flagged": True, "n_drifted": 1, "n_features": 2, "drifted_features": ["apy"]}
QUIET = {**DRIFTED, "drift_flagged": False, "n_drifted": 0, "drifted_features": []}
NO_DECAY = {"decay_flagged": False, "latest_window": None, "min_auc": 0.6}
DECAY = {
    "decay_flagged": True,
    "min_auc": 0.6,
    "latest_window": {"roc_auc": 0.52, "n": 900, "brier": 0.3, "date": "2025-09-30"},
}


def test_a_flag_posts_a_discord_message():
    payload = build_message(DRIFTED, DRIFT_REPORT, DECAY, PARAMS)
    with webhook_server() as server:
        record = send_alert(payload, {"url": server.url}, PARAMS)
    assert record["status"] == "sent" and record["attempts"] == 1 and record["http_status"] == 204
    (body,) = server.received
    assert body["content"] == (
        "yield-runway monitoring: drift in 1 feature(s) and realised AUC below threshold"
    )
    assert [e["title"] for e in body["embeds"]] == ["Feature drift", "Model decay"]
    assert [f["name"] for f in body["embeds"][0]["fields"]] == ["apy"]
    assert "0.520 < 0.6" in body["embeds"][1]["description"]


def test_no_flag_no_call():
    assert build_message(QUIET, DRIFT_REPORT, NO_DECAY, PARAMS) is None
    with webhook_server() as server:
        record = send_alert(None, {"url": server.url}, PARAMS)
    assert server.received == [] and record["status"] == "no_flag" and not record["flagged"]


def test_no_webhook_configured_no_call():
    payload = build_message(DRIFTED, DRIFT_REPORT, NO_DECAY, PARAMS)
    for webhook in (None, {}, {"url": None}):
        record = send_alert(payload, webhook, PARAMS)
        assert record["status"] == "not_configured" and record["attempts"] == 0


def test_server_errors_are_retried_then_reported_not_raised(caplog):
    with webhook_server(default_status=500) as server:
        record = post_webhook(server.url, {"content": "x"}, PARAMS)
    assert len(server.received) == 3  # the first attempt and max_retries
    assert record == {"sent": False, "attempts": 3, "http_status": 500, "error": "HTTP 500"}
    assert "failed after 3 attempt(s)" in caplog.text


def test_rate_limit_then_success_honours_retry_after():
    waits = []
    with webhook_server(statuses=[429, 503]) as server:
        server.headers["Retry-After"] = "0.03"
        record = post_webhook(server.url, {"content": "x"}, PARAMS, sleep=waits.append)
    assert record["sent"] and record["attempts"] == 3 and len(server.received) == 3
    assert waits == [0.03, 0.03]


@pytest.mark.parametrize("header", ["nan", "-1", "inf", "Sat, 01 Mar 2025 11:00:00 GMT"])
def test_an_odd_retry_after_still_gives_a_bounded_wait(header):
    waits = []
    with webhook_server(statuses=[429]) as server:
        server.headers["Retry-After"] = header
        record = post_webhook(server.url, {"content": "x"}, PARAMS, sleep=waits.append)
    assert record["sent"] and record["attempts"] == 2
    (wait,) = waits
    assert 0.0 <= wait <= PARAMS["backoff"]["max_s"]


def test_a_client_error_is_not_retried():
    with webhook_server(default_status=404) as server:
        record = post_webhook(server.url, {"content": "x"}, PARAMS)
    assert record["attempts"] == 1 and record["http_status"] == 404 and not record["sent"]


def test_connection_refused_is_retried_and_reported_without_the_url(caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/secret-token"
    waits = []
    record = post_webhook(url, {"content": "x"}, PARAMS, sleep=waits.append)
    assert record["attempts"] == 3 and record["error"] == "ConnectionError"
    assert waits == pytest.approx([0.01, 0.02])
    assert "secret-token" not in caplog.text
