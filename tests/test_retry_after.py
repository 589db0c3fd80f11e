"""Retry-After headers as seconds to wait."""

from __future__ import annotations

from datetime import UTC, datetime

from yield_runway.retry_after import parse_retry_after


def test_parse_retry_after_forms():
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("5", now) == 5.0
    assert parse_retry_after(" 2.5 ", now) == 2.5
    assert parse_retry_after("Sat, 01 Mar 2025 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Sat, 01 Mar 2025 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("-1", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    # Floats a sleep cannot follow are no instruction at all.
    assert parse_retry_after("nan", now) is None
    assert parse_retry_after("inf", now) is None
