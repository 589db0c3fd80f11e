"""A small AWS Lambda Runtime API on 127.0.0.1: hands out events, collects the answers.

The real runtime client (`awslambdaric`) polls `GET /2018-06-01/runtime/invocation/next` and
posts each result to `.../invocation/<id>/response` (or `/error`). Lambda has no local emulator
for images built from a non-AWS base, so tests run the client against this one.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"


class RuntimeAPI:
    """Serve `events` one per `next` call; `result(i)` waits for the i-th answer."""

    def __init__(self, events: list[dict[str, Any]], deadline_seconds: float = 900) -> None:
        self._events: queue.Queue = queue.Queue()
        for event in events:
            self._events.put(event)
        self.ids: list[str] = []
        self.answers: dict[str, tuple[str, Any]] = {}
        self._answered = threading.Condition()
        self._deadline = deadline_seconds
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RuntimeAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def result(self, index: int, timeout: float) -> tuple[str, Any]:
        """("response" | "error" | "init_error", body) of the index-th event, waiting for it."""
        end = time.monotonic() + timeout
        with self._answered:
            while True:
                if "init" in self.answers:
                    return self.answers["init"]
                if index < len(self.ids) and self.ids[index] in self.answers:
                    return self.answers[self.ids[index]]
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no answer to event {index} within {timeout} s")
                self._answered.wait(left)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _reply(self, status: int, body: bytes = b"{}", headers: dict | None = None):
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    return self._reply(404)
                event = api._events.get()  # blocks until there is one, as Lambda does
                request_id = str(uuid.uuid4())
                with api._answered:
                    api.ids.append(request_id)
                deadline = int((time.time() + api._deadline) * 1000)
                headers = {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn": (
                        "arn:aws:lambda:us-east-1:000000000000:function:yield-runway"
                    ),
                    "Content-Type": "application/json",
                }
                self._reply(200, json.dumps(event).encode(), headers)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path[len(PREFIX) :].strip("/").split("/")
                if parts == ["init", "error"]:
                    key, kind = "init", "init_error"
                elif (
                    len(parts) == 3
                    and parts[0] == "invocation"
                    and parts[2]
                    in (
                        "response",
                        "error",
                    )
                ):
                    key, kind = parts[1], parts[2]
                else:
                    return self._reply(404)
                with api._answered:
                    api.answers[key] = (kind, json.loads(body or b"null"))
                    api._answered.notify_all()
                self._reply(202)

        return Handler
