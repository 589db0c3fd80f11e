"""AWS Lambda entry point: HTTP predictions API (payload 2.0) and the hourly scheduled run.

Routes: `POST /predictions` (legacy: six-feature objects -> [[p_down, p_stable], ...]) and
`POST /predictions/pools` (snapshot pool objects -> the contract's `predictions` objects).
"""

from __future__ import annotations

import os

# Before any import that reads them: no telemetry, matplotlib's cache under the writable /tmp,
# Kedro logging from the packaged conf (console only).
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MPLCONFIGDIR", os.environ.get("TMPDIR", "/tmp"))
from .config import conf_source  # noqa: E402

if os.path.exists(os.path.join(conf_source(), "logging.yml")):
    os.environ.setdefault("KEDRO_LOGGING_CONFIG", os.path.join(conf_source(), "logging.yml"))

import importlib.util  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from yield_runway.contracts import ORIGINAL_FEATURES  # noqa: E402

from . import apigateway as http  # noqa: E402
from .artefacts import ArtefactError, ArtefactStore  # noqa: E402
from .config import load_config  # noqa: E402, I001
from .pools import predict_pools  # noqa: E402
from .scheduled import is_scheduled_event, run_scheduled  # noqa: E402
from .validation import (  # noqa: E402
    RequestError,
    feature_matrix,
    json_body,
    legacy_warnings,
    pool_objects,
)

logger = logging.getLogger("yield_runway.serving")
logger.setLevel(logging.INFO)

LEGACY_ROUTE = "POST /predictions"
POOLS_ROUTE = "POST /predictions/pools"

_store: ArtefactStore | None = None


def artefact_store() -> ArtefactStore:
    """The container's artefact store, created on first use (reused while warm)."""
    global _store
    config = load_config()
    if _store is None or _store.uri != config.data_uri:
        _store = ArtefactStore(config.data_uri, config.artefact_ttl_seconds, config.model_threads)
    return _store


def legacy_predictions(event: dict[str, Any]) -> dict[str, Any]:
    """The legacy contract: `{"predictions": [[p_down, p_stable], ...]}` in input order."""
    config = load_config()
    matrix = feature_matrix(json_body(event), ORIGINAL_FEATURES, config.max_rows)
    artefacts = artefact_store().get()
    warnings = legacy_warnings(matrix, ORIGINAL_FEATURES, artefacts.categorical_mapping)
    # The release guarantees the legacy model's columns are ORIGINAL_FEATURES, in order.
    proba = artefacts.legacy_model.predict_proba(matrix)
    # `warnings` only when there are some: the legacy body stays what dashboards parse.
    payload = {"predictions": proba.tolist(), **({"warnings": warnings} if warnings else {})}
    return http.response(200, payload)


def pool_predictions(event: dict[str, Any]) -> dict[str, Any]:
    """Snapshot pool objects -> `{"data": [{"pool", "predictions"}, ...], "warnings"}`."""
    config = load_config()
    objects = pool_objects(json_body(event), config.max_rows)
    return http.response(200, predict_pools(objects, artefact_store()))


ROUTES = {LEGACY_ROUTE: legacy_predictions, POOLS_ROUTE: pool_predictions}
# Per route, the list in the payload that grows with the request's rows.
ROWS_KEY = {LEGACY_ROUTE: "predictions", POOLS_ROUTE: "data"}


def _too_large(route: str, result: dict[str, Any], request_id: str) -> dict[str, Any]:
    """413 naming how many of the request's rows fit in Lambda's response limit."""
    payload = json.loads(result["body"])
    rows = payload[ROWS_KEY[route]]
    # Each row's share of the response: its JSON, escaped again inside the body, and a comma.
    shares = [len(json.dumps(json.dumps(row, separators=(",", ":")))) - 1 for row in rows]
    overhead = http.size(result) - sum(shares)
    fits = int(np.searchsorted(np.cumsum(shares), http.MAX_RESPONSE_BYTES - overhead, "right"))
    message = (
        f"the response to these {len(rows):,} rows would be {http.size(result) / 2**20:.1f} MB,"
        f" over Lambda's 6 MB limit: send at most {fits:,} rows per request"
    )
    return http.error(413, message, request_id)


def handle_http(event: dict[str, Any], request_id: str) -> dict[str, Any]:
    """Dispatch an API request; bad input -> 400, missing artefacts -> 503, else -> 500."""
    route = http.route_of(event)
    try:
        if route not in ROUTES:
            path = route.partition(" ")[2]
            allowed = sorted(r.partition(" ")[0] for r in ROUTES if r.partition(" ")[2] == path)
            if allowed:
                return http.error(405, f"{route}: use {', '.join(allowed)} {path}", request_id)
            return http.error(404, f"no route {route}", request_id)
        result = ROUTES[route](event)
        if http.size(result) > http.MAX_RESPONSE_BYTES:
            return _too_large(route, result, request_id)
        return result
    except RequestError as error:
        return http.error(400, str(error), request_id)
    except ArtefactError as error:
        logger.error("Artefacts unavailable (request %s): %s", request_id, error)
        return http.error(503, str(error), request_id)
    except Exception:
        # The trace goes to the log, never to the client.
        logger.exception("Unexpected failure in %s (request %s)", route, request_id)
        return http.error(500, "internal error", request_id)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    request_id = http.request_id(event, context)
    if is_scheduled_event(event):
        if importlib.util.find_spec("kedro") is None:
            # The API's zip carries no Kedro: a schedule pointed at it fails saying where to go.
            raise RuntimeError(
                "This package serves the HTTP API only (no Kedro): the scheduled run is the "
                "container image's function (`hourly` in deploy/serverless.yml); point the "
                "EventBridge schedule at it"
            )
        # An inference failure propagates: Lambda marks the invocation failed and EventBridge
        # retries it; a monitoring failure is only reported in the summary.
        return run_scheduled(event, load_config())
    if http.is_http_event(event):
        return handle_http(event, request_id)
    if isinstance(event, dict) and http.looks_like_http(event):
        return http.error(
            400, "malformed API Gateway event: requestContext.http is missing", request_id
        )
    logger.error("Unsupported event (request %s): keys %s", request_id, sorted(event))
    raise ValueError(f"Unsupported event with keys {sorted(event)}")
