"""A thread-safe token bucket that bounds the request rate shared by all fetch workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

_EPSILON = 1e-9


class TokenBucket:
    """Hands out at most ``burst`` tokens at once, refilled at ``rate`` tokens per second.

    ``clock`` and ``sleep`` are injectable so tests can drive the bucket on a virtual clock
    instead of asserting on wall-clock timings.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests/second, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated = clock()
        self._paused_until = self._updated

    def _refill(self, now: float) -> None:
        # Time spent paused (server asked us to back off) does not earn tokens: a 429 storm
        # must not be followed by a burst.
        earn_from = max(self._updated, self._paused_until)
        if now > earn_from:
            self._tokens = min(self.burst, self._tokens + (now - earn_from) * self.rate)
        self._updated = max(self._updated, now)

    def _reserve(self) -> float:
        """Take a token if one is available now; otherwise return how long to wait."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            if now < self._paused_until:
                return self._paused_until - now
            # The epsilon absorbs float rounding of refills; without it a wait of ~1e-17 s can
            # be lost in `now + wait` and the caller would spin forever.
            if self._tokens >= 1.0 - _EPSILON:
                self._tokens = max(0.0, self._tokens - 1.0)
                return 0.0
            return (1.0 - self._tokens) / self.rate

    def acquire(self, cancel: threading.Event | None = None) -> bool:
        """Block until a token is taken; return False if ``cancel`` is set while waiting."""
        while True:
            if cancel is not None and cancel.is_set():
                return False
            wait = self._reserve()
            if wait <= 0.0:
                return True
            # Sleep outside the lock so other workers can compute their own wait.
            if cancel is not None:
                if cancel.wait(wait):
                    return False
            else:
                self._sleep(wait)

    def pause_for(self, seconds: float) -> None:
        """Stop handing out tokens for ``seconds`` (e.g. a 429's Retry-After), for all workers."""
        if seconds <= 0:
            return
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._paused_until = max(self._paused_until, now + seconds)
            self._tokens = min(self._tokens, 1.0)
