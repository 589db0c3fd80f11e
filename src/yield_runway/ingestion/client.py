"""HTTP client for the DefiLlama yields API: rate-limited, with timeouts and retries."""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from yield_runway import __version__
from yield_runway.ingestion.rate_limit import TokenBucket
from yield_runway.retry_after import parse_retry_after

logger = logging.getLogger(__name__)


class FetchError(Exception):
    """A request that failed for good; ``reason`` is a short, countable label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class FetchAborted(Exception):  # noqa: N818 - it is a control signal, not a failure
    """Raised in workers once the run is being stopped (interrupt or early abort)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a request that may succeed later."""

    max_retries: int
    backoff_base_s: float
    backoff_factor: float
    backoff_max_s: float
    jitter: float = 0.0

    def delay(self, retry: int, rng: random.Random) -> float:
        """Backoff before retry number ``retry`` (0-based), capped at ``backoff_max_s``."""
        base = min(self.backoff_max_s, self.backoff_base_s * self.backoff_factor**retry)
        # Jitter only shortens the wait so the cap holds; it de-synchronises the workers.
        return base * (1.0 - self.jitter * rng.random())


# 429 and 5xx are the server telling us "later"; other 4xx will not change on a retry.
def _is_retryable_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


class YieldsClient:
    """GETs JSON from the yields API through a shared token bucket, retrying transient errors.

    Safe to share between threads: each thread gets its own ``requests.Session`` because a
    Session is not documented as thread-safe.
    """

    def __init__(
        self,
        base_url: str,
        limiter: TokenBucket,
        retry: RetryPolicy,
        timeout_s: float,
        *,
        stop: threading.Event | None = None,
        sleep: Callable[[float], bool] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.retry = retry
        self.timeout_s = timeout_s
        self.stop = stop or threading.Event()
        # Backoff sleeps return early (True) when the run is stopped.
        self._sleep = sleep or self.stop.wait
        self._rng = rng or random.Random()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.responses: Counter[str] = Counter()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = f"yield-runway/{__version__}"
            session.headers["Accept"] = "application/json"
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _count(self, outcome: str, *, retry: bool = False) -> None:
        with self._lock:
            self.requests += 1
            self.responses[outcome] += 1
            if retry:
                self.retries += 1

    def stats(self) -> dict[str, Any]:
        """Requests sent, retries and outcomes so far."""
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "responses": dict(sorted(self.responses.items())),
            }

    def close(self) -> None:
        """Close every thread's HTTP session."""
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def pools(self) -> Any:
        """The parsed body of ``GET /pools``."""
        return self.get_json("/pools")

    def chart(self, pool_id: str) -> Any:
        """The parsed body of ``GET /chart/{pool}``."""
        return self.get_json(f"/chart/{quote(pool_id, safe='')}")

    def get_json(self, path: str) -> Any:
        """GET ``path`` and parse JSON, retrying 429/5xx/timeouts; raise FetchError when done."""
        url = f"{self.base_url}{path}"
        for attempt in range(self.retry.max_retries + 1):
            if not self.limiter.acquire(self.stop):
                raise FetchAborted(url)
            last = attempt == self.retry.max_retries
            try:
                response = self._session().get(url, timeout=self.timeout_s)
            except requests.Timeout as exc:
                self._count("timeout", retry=not last)
                failure, wait = FetchError("timeout", f"{url}: {exc}"), None
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                self._count("connection_error", retry=not last)
                failure, wait = FetchError("connection_error", f"{url}: {exc}"), None
            except requests.RequestException as exc:
                # Invalid URL and the like: retrying cannot help.
                self._count("request_error")
                raise FetchError("request_error", f"{url}: {exc}") from exc
            else:
                status = response.status_code
                if not _is_retryable_status(status):
                    self._count(str(status))
                    return self._parse(url, response)
                self._count(str(status), retry=not last)
                failure = FetchError(f"http_{status}", url)
                wait = parse_retry_after(response.headers.get("Retry-After"))
                response.close()
            if last:
                raise failure
            backoff = self.retry.delay(attempt, self._rng)
            if wait is not None:
                # Honour the server's Retry-After, but never beyond our own ceiling, and hold
                # every worker back, not just this one: the limit is per client, not per pool.
                backoff = min(max(backoff, wait), self.retry.backoff_max_s)
                self.limiter.pause_for(backoff)
            logger.debug("%s (attempt %d), retrying in %.2fs", failure, attempt + 1, backoff)
            if self._sleep(backoff):
                raise FetchAborted(url)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _parse(url: str, response: requests.Response) -> Any:
        if response.status_code != 200:
            raise FetchError(f"http_{response.status_code}", url)
        try:
            return response.json()
        except ValueError as exc:
            snippet = response.text[:80].replace("\n", " ")
            raise FetchError("invalid_json", f"{url}: {exc}; body starts {snippet!r}") from exc
