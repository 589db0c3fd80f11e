"""API Gateway HTTP API (payload format 2.0) events and responses."""

from __future__ import annotations

import json
from typing import Any

JSON_HEADERS = {"content-type": "application/json"}
# Lambda refuses a synchronous response over 6 MB (the whole payload, body escaped inside it).
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
# Error messages name the problem; an echoed value is cut so a huge bad input cannot bloat them.
MAX_ERROR_CHARS = 500


def is_http_event(event: dict[str, Any]) -> bool:
    """An API Gateway HTTP API request (payload 2.0)."""
    context = event.get("requestContext")
    return isinstance(context, dict) and isinstance(context.get("http"), dict)


def route_of(event: dict[str, Any]) -> str:
    """`METHOD /path`, from routeKey or, for a catch-all route, the request itself."""
    route = event.get("routeKey")
    if isinstance(route, str) and route and route != "$default":
        return route
    http = event["requestContext"]["http"]
    method, path = http.get("method"), event.get("rawPath") or http.get("path")
    method = method.upper() if isinstance(method, str) else ""
    return f"{method} {path if isinstance(path, str) else ''}"


def looks_like_http(event: dict[str, Any]) -> bool:
    """Meant as an API Gateway request (a route, a path or a body), well formed or not."""
    return any(key in event for key in ("routeKey", "rawPath", "body", "requestContext"))


def request_id(event: dict[str, Any], context: Any) -> str:
    """The Lambda request id (or API Gateway's when run outside Lambda)."""
    own = getattr(context, "aws_request_id", None)
    if isinstance(own, str) and own:
        return own
    request_context = event.get("requestContext")
    gateway = request_context.get("requestId") if isinstance(request_context, dict) else None
    return gateway if isinstance(gateway, str) and gateway else "unknown"


def shorten(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """Text cut to `limit` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    # The note is never longer than with the whole length in it: room for it, then the text.
    keep = max(limit - len(f"... ({len(text):,} more characters)"), 0)
    return f"{text[:keep]}... ({len(text) - keep:,} more characters)"


def error(status: int, message: str, request_id: str) -> dict[str, Any]:
    """An error response naming the problem in a bounded message."""
    return response(status, {"error": shorten(message), "requestId": shorten(str(request_id), 100)})


def size(result: dict[str, Any]) -> int:
    """Bytes of a response as Lambda counts them: the whole payload, the body escaped in it."""
    return len(json.dumps(result).encode())


def response(status: int, payload: Any) -> dict[str, Any]:
    """A payload 2.0 response with a JSON body."""
    return {
        "statusCode": status,
        "headers": dict(JSON_HEADERS),
        "body": json.dumps(payload, separators=(",", ":")),
        "isBase64Encoded": False,
    }
