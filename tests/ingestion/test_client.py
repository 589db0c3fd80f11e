import random

import pytest

from tests.ingestion.fake_api import Reply, chart_points, ok
from yield_runway.ingestion.client import (
    FetchError,
    RetryPolicy,
    YieldsClient,
)
from yield_runway.ingestion.rate_limit import TokenBucket


class SleepRecorder:
    """Records backoff waits and advances a virtual clock instead of sleeping.

    The client's limiter runs on the same clock, so a Retry-After pause of the shared bucket is
    respected (or the test would block) without the test waiting for real.
    """

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def __call__(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


def make_client(url, sleep, *, max_retries=3, timeout_s=2.0, max_s=10.0) -> YieldsClient:
    return YieldsClient(
        url,
        TokenBucket(rate=1000, burst=100, clock=sleep.clock),
        RetryPolicy(max_retries, backoff_base_s=0.5, backoff_factor=2.0, backoff_max_s=max_s),
        timeout_s,
        sleep=sleep,
        rng=random.Random(0),
    )


def test_429_honours_retry_after_then_succeeds(api):
    points = chart_points(3)
    api.script("/chart/p1", Reply(429, {"message": "slow down"}, {"Retry-After": "7"}), ok(points))
    sleep = SleepRecorder()
    client = make_client(api.url, sleep)
    assert client.chart("p1") == {"status": "success", "data": points}
    assert api.count("/chart/p1") == 2
    assert sleep.waits == [7.0]  # the server's 7 s, not our 0.5 s first backoff
    assert client.stats() == {"requests": 2, "retries": 1, "responses": {"200": 1, "429": 1}}


def test_retry_after_is_capped_by_backoff_max(api):
    api.script("/chart/p1", Reply(429, {}, {"Retry-After": "3600"}), ok([]))
    sleep = SleepRecorder()
    make_client(api.url, sleep, max_s=4.0).chart("p1")
    assert sleep.waits == [4.0]


def test_5xx_backs_off_exponentially(api):
    api.script("/chart/p1", Reply(500, b"oops"), Reply(502, b"bad gateway"), Reply(503), ok([]))
    sleep = SleepRecorder()
    client = make_client(api.url, sleep)
    assert client.chart("p1")["status"] == "success"
    assert sleep.waits == [0.5, 1.0, 2.0]
    assert client.stats()["retries"] == 3


def test_gives_up_after_max_retries(api):
    api.script("/chart/p1", Reply(500, b"oops"))
    sleep = SleepRecorder()
    with pytest.raises(FetchError) as err:
        make_client(api.url, sleep, max_retries=2).chart("p1")
    assert err.value.reason == "http_500"
    assert api.count("/chart/p1") == 3
    assert len(sleep.waits) == 2


def test_other_4xx_is_not_retried(api):
    with pytest.raises(FetchError) as err:
        make_client(api.url, SleepRecorder()).chart("missing")
    assert err.value.reason == "http_404"
    assert api.count("/chart/missing") == 1


def test_slow_endpoint_times_out_then_succeeds(api):
    api.script("/chart/p1", Reply(200, {"status": "success", "data": []}, delay_s=1.0), ok([1]))
    client = make_client(api.url, SleepRecorder(), timeout_s=0.2)
    assert client.chart("p1")["data"] == [1]
    assert client.stats()["responses"] == {"200": 1, "timeout": 1}


def test_non_json_body_is_an_invalid_json_failure_without_retry(api):
    api.script("/chart/p1", Reply(200, b"<html>gateway</html>"))
    with pytest.raises(FetchError) as err:
        make_client(api.url, SleepRecorder()).chart("p1")
    assert err.value.reason == "invalid_json"
    assert "<html>" in err.value.detail
    assert api.count("/chart/p1") == 1


def test_connection_refused_is_retried_then_reported(api):
    url = api.url
    api.stop()
    sleep = SleepRecorder()
    with pytest.raises(FetchError) as err:
        make_client(url, sleep, max_retries=1).pools()
    assert err.value.reason == "connection_error"
    assert len(sleep.waits) == 1


def test_pool_ids_are_escaped_in_the_url(api):
    api.script("/chart/a%2Fb", ok([]))
    make_client(api.url, SleepRecorder()).chart("a/b")
    assert api.paths() == ["/chart/a%2Fb"]


def test_jitter_only_shortens_the_wait():
    policy = RetryPolicy(5, backoff_base_s=1.0, backoff_factor=2.0, backoff_max_s=5.0, jitter=0.5)
    rng = random.Random(1)
    for retry in range(6):
        cap = min(5.0, 2.0**retry)
        assert cap * 0.5 <= policy.delay(retry, rng) <= cap
