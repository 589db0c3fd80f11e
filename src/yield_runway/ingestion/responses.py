"""Validation of yields API payloads against the data contract (DESIGN.md, "Data contracts")."""

from __future__ import annotations

from datetime import datetime
from typing import Any


class BadResponse(Exception):  # noqa: N818 - mirrors FetchError: a countable per-pool outcome
    """A payload that breaks the contract; ``reason`` is a short, countable label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# Chart point fields: required ones must be present (value may be null where the API nulls
# them); optional ones may be absent. Booleans are ints in Python, so they are rejected
# explicitly: a bool where a number belongs means the schema changed under us.
_REQUIRED_NUMERIC = ("tvlUsd", "apy")
_OPTIONAL_NUMERIC = ("apyBase", "apyReward", "il7d", "apyBase7d")


def _is_number_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _unwrap(body: Any, what: str) -> Any:
    if not isinstance(body, dict):
        raise BadResponse("bad_shape", f"{what}: body is {type(body).__name__}, not an object")
    if "status" not in body:
        raise BadResponse("missing_field", f"{what}: no 'status'")
    if body["status"] != "success":
        raise BadResponse("status_not_success", f"{what}: status={body['status']!r}")
    if "data" not in body:
        raise BadResponse("missing_field", f"{what}: no 'data'")
    if not isinstance(body["data"], list):
        raise BadResponse("mistyped_field", f"{what}: 'data' is {type(body['data']).__name__}")
    return body["data"]


def pools_snapshot(body: Any) -> tuple[list[dict[str, Any]], int]:
    """The snapshot objects of a ``/pools`` body, and how many entries had no usable ``pool``."""
    data = _unwrap(body, "/pools")
    # `pool` is the one field the contract says is never null; anything else may be.
    valid = [item for item in data if isinstance(item, dict) and isinstance(item.get("pool"), str)]
    if data and not valid:
        raise BadResponse("missing_field", "/pools: no entry has a string 'pool'")
    return valid, len(data) - len(valid)


def parse_timestamp(value: Any) -> datetime:
    """An ISO-8601 timestamp string as a datetime; raise BadResponse otherwise."""
    if not isinstance(value, str):
        raise BadResponse("mistyped_field", f"timestamp is {type(value).__name__}")
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadResponse("bad_timestamp", f"{value!r}") from exc


def chart_points(points: Any, what: str) -> list[dict[str, Any]]:
    """Check a chart's points: a non-empty list of objects with the contract's fields."""
    if not isinstance(points, list):
        raise BadResponse("mistyped_field", f"{what}: 'data' is {type(points).__name__}")
    if not points:
        raise BadResponse("empty_history", what)
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            raise BadResponse("mistyped_field", f"{what}: point {i} is {type(point).__name__}")
        for field in ("timestamp", *_REQUIRED_NUMERIC):
            if field not in point:
                raise BadResponse("missing_field", f"{what}: point {i} has no {field!r}")
        try:
            parse_timestamp(point["timestamp"])
        except BadResponse as exc:
            raise BadResponse(exc.reason, f"{what}: point {i}: {exc.detail}") from exc
        for field in (*_REQUIRED_NUMERIC, *_OPTIONAL_NUMERIC):
            if not _is_number_or_null(point.get(field)):
                kind = type(point[field]).__name__
                raise BadResponse("mistyped_field", f"{what}: point {i} {field!r} is {kind}")
    return points


def chart(body: Any, pool_id: str) -> list[dict[str, Any]]:
    """The validated points of a ``/chart/{pool}`` body."""
    what = f"/chart/{pool_id}"
    return chart_points(_unwrap(body, what), what)
