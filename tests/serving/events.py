"""Real-shaped Lambda events: API Gateway HTTP API payload 2.0 and an EventBridge schedule."""

from __future__ import annotations

import base64
import json
from typing import Any


def api_event(path: str, body: Any, *, raw: str | None = None, b64: bool = False) -> dict:
    """An API Gateway HTTP API (payload 2.0) POST request."""
    text = raw if raw is not None else json.dumps(body)
    return {
        "version": "2.0",
        "routeKey": f"POST {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc123.execute-api.aws"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4"},
            "requestId": "req-123",
            "routeKey": f"POST {path}",
            "stage": "$default",
            "timeEpoch": 1761955512000,
        },
        "body": base64.b64encode(text.encode()).decode() if b64 else text,
        "isBase64Encoded": b64,
    }


def schedule_event(time: str) -> dict:
    """An EventBridge scheduled event."""
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time,
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/yield-runway-hourly"],
        "detail": {},
    }


class Context:
    """The Lambda context attributes the handler reads."""

    aws_request_id = "lambda-req-1"
    function_name = "yield-runway"


def upload_tree(s3: Any, bucket: str, prefix: str, data_dir) -> None:
    """Copy the serving artefacts and snapshot of a trained project's data/ folder to S3."""
    for sub in ("01_raw/pools_snapshot.json", "04_feature", "06_models"):
        root = data_dir / sub
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            key = f"{prefix}/{path.relative_to(data_dir).as_posix()}"
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
