"""A real HTTP server on 127.0.0.1 that records webhook POSTs and answers with scripted statuses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class WebhookServer:
    """The server's URL, the JSON bodies it received and the statuses it will answer with."""

    url: str
    statuses: list[int] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)
    default_status: int = 204
    headers: dict[str, str] = field(default_factory=dict)


@contextmanager
def webhook_server(
    statuses: list[int] | None = None, default_status: int = 204
) -> Iterator[WebhookServer]:
    """Serve on a free port for the duration of the block; statuses are answered in order."""
    state = WebhookServer(url="", statuses=list(statuses or []), default_status=default_status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(json.loads(body))
            status = state.statuses.pop(0) if state.statuses else state.default_status
            self.send_response(status)
            for key, value in state.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
