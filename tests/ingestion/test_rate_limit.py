import threading
import time

import pytest

from yield_runway.ingestion.rate_limit import TokenBucket


class VirtualClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_bucket_spaces_requests_at_the_rate_after_the_burst():
    clock = VirtualClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock, sleep=clock.sleep)
    granted = []
    for _ in range(23):
        assert bucket.acquire()
        granted.append(clock.now)
    # The first 3 go at once, then one every 1/10 s.
    assert granted[:3] == [0.0, 0.0, 0.0]
    assert granted[-1] == pytest.approx(2.0)
    # In any 1-second window at most burst + rate tokens are handed out.
    for start in granted:
        assert sum(start <= t < start + 1.0 for t in granted) <= 3 + 10


def test_idle_time_refills_only_up_to_the_burst():
    clock = VirtualClock()
    bucket = TokenBucket(rate=2, burst=2, clock=clock, sleep=clock.sleep)
    clock.now = 100.0
    for _ in range(3):
        bucket.acquire()
    assert clock.now == pytest.approx(100.5)


def test_pause_holds_every_caller_and_earns_no_tokens():
    clock = VirtualClock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock, sleep=clock.sleep)
    bucket.pause_for(2.0)
    bucket.acquire()
    assert clock.now == pytest.approx(2.0)
    # The pause does not bank tokens: the bucket held at most one, now spent.
    bucket.acquire()
    assert clock.now == pytest.approx(2.1)


def test_acquire_returns_false_when_cancelled():
    bucket = TokenBucket(rate=0.001, burst=1)
    assert bucket.acquire()
    cancel = threading.Event()
    threading.Timer(0.05, cancel.set).start()
    assert bucket.acquire(cancel) is False


def test_threads_sharing_a_bucket_are_bounded_together():
    rate, n_threads, per_thread = 100.0, 4, 10
    bucket = TokenBucket(rate=rate, burst=1)
    granted: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(per_thread):
            bucket.acquire()
            with lock:
                granted.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == n_threads * per_thread
    # Only a lower bound on time: a slow machine can make it longer, never shorter.
    assert max(granted) - min(granted) >= (len(granted) - 1) / rate * 0.9


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0.5)])
def test_invalid_settings_are_rejected(rate, burst):
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, burst=burst)
