"""API Gateway HTTP API (payload format 2.0) events and responses."""

from __future__ import annotations

import json
from typing import Any

JSON_HEADERS = {"content-type": "application/json"}


def is_http_event(event: dict[str, Any]) -> bool:
    """An API Gateway HTTP API request (payload 2.0)."""
    return "requestContext" in event and "http" in event.get("requestContext", {})


def route_of(event: dict[str, Any]) -> str:
    """`METHOD /path`, from routeKey or, for a catch-all route, the request itself."""
    route = event.get("routeKey")
    if route and route != "$default":
        return route
    http = event["requestContext"]["http"]
    return f"{http.get('method', '').upper()} {event.get('rawPath') or http.get('path', '')}"


def request_id(event: dict[str, Any], context: Any) -> str:
    """The Lambda request id (or API Gateway's when run outside Lambda)."""
    return getattr(context, "aws_request_id", None) or event.get("requestContext", {}).get(
        "requestId", "unknown"
    )


def response(status: int, payload: Any) -> dict[str, Any]:
    """A payload 2.0 response with a JSON body."""
    return {
        "statusCode": status,
        "headers": dict(JSON_HEADERS),
        "body": json.dumps(payload, separators=(",", ":")),
        "isBase64Encoded": False,
    }
