"""A local stand-in for the DefiLlama yields API, serving bodies in the real format."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted HTTP response; ``body`` is JSON-encoded unless it is bytes."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def ok(data: Any) -> Reply:
    """A successful API response wrapping ``data``."""
    return Reply(200, {"status": "success", "data": data})


def pool_object(
    pool: str,
    *,
    tvl: float | None = 10_000_000,
    chain: str | None = "Ethereum",
    project: str | None = "aave-v3",
    symbol: str | None = "USDC",
    stablecoin: bool | None = True,
) -> dict[str, Any]:
    """A /pools entry with every dataEnriched.json field (DESIGN.md, "Data contracts")."""
    return {
        "chain": chain,
        "project": project,
        "symbol": symbol,
        "tvlUsd": tvl,
        "apyBase": 3.1,
        "apyReward": None,
        "apy": 3.1,
        "rewardTokens": None,
        "pool": pool,
        "apyPct1D": 0.01,
        "apyPct7D": -0.2,
        "apyPct30D": 0.5,
        "stablecoin": stablecoin,
        "ilRisk": "no",
        "exposure": "single",
        "predictions": {
            "predictedClass": "Stable/Up",
            "predictedProbability": 71,
            "binnedConfidence": 2,
        },
        "poolMeta": None,
        "mu": 3.4,
        "sigma": 0.2,
        "count": 400,
        "outlier": False,
        "underlyingTokens": ["0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"],
        "il7d": None,
        "apyBase7d": None,
        "apyMean30d": 3.3,
        "volumeUsd1d": None,
        "volumeUsd7d": None,
    }


def chart_points(n: int, *, apy0: float = 5.0, tvl0: int = 1_000_000) -> list[dict[str, Any]]:
    """``n`` daily /chart points in the real shape (timestamps as the API writes them)."""
    return [
        {
            "timestamp": f"2025-03-{day + 1:02d}T23:01:43.207Z",
            "tvlUsd": tvl0 + 1000 * day,
            "apy": apy0 + 0.25 * day,
            "apyBase": apy0,
            "apyReward": 0.25 * day if day else None,
            "il7d": None,
            "apyBase7d": None,
        }
        for day in range(n)
    ]


class FakeYieldsApi:
    """ThreadingHTTPServer on 127.0.0.1 with scripted replies per path and a request log.

    Each path replays its script in order and then repeats the last reply.
    """

    def __init__(self, port: int = 0) -> None:
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self.log: list[tuple[float, str]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                reply = api._next(self.path)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                body = (
                    reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                )
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and went away: that is the point of the test

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _next(self, path: str) -> Reply:
        with self._lock:
            self.log.append((time.monotonic(), path))
            script = self._scripts.get(path)
            if not script:
                return Reply(404, {"status": "error", "message": "not found"})
            return script.pop(0) if len(script) > 1 else script[0]

    def script(self, path: str, *replies: Reply) -> None:
        """Serve ``replies`` in order on ``path``, then keep serving the last one."""
        with self._lock:
            self._scripts[path] = list(replies)

    def paths(self) -> list[str]:
        """Paths requested so far, in arrival order."""
        with self._lock:
            return [path for _, path in self.log]

    def count(self, path: str) -> int:
        """How many times ``path`` was requested."""
        return self.paths().count(path)

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def start(self) -> FakeYieldsApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
