import csv
import json
import re

import pandas as pd
import pytest
from kedro.io import DataCatalog

from tests.ingestion.fake_api import Reply, chart_points, ok, pool_object
from tests.pipelines.ingestion.helpers import (
    HEADER,
    chart_paths,
    make_params,
    read_summary,
    run_ingestion,
    serve_healthy_pools,
)
from yield_runway.ingestion.partition_store import PartitionStore, ResumablePartitionsDataset
from yield_runway.pipelines.ingestion import create_pipeline
from yield_runway.pipelines.ingestion.nodes import IngestionError, fetch_pool_charts

ISO_MS_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def test_mixed_responses_are_fetched_retried_or_skipped_by_reason(api, tmp_path):
    good = chart_points(3)
    pools = [
        pool_object("ok-a", tvl=9e7, chain="Ethereum", project="aave-v3", symbol="USDC"),
        pool_object("ok-b", tvl=8e7, chain="Arbitrum", project="curve-dex", symbol="DAI-USDT"),
        pool_object("rate-limited", tvl=7e7, symbol="WETH", stablecoin=False),
        pool_object("flaky-5xx", tvl=6e7),
        pool_object("slow", tvl=5e7),
        pool_object("html", tvl=4e7),
        pool_object("status-error", tvl=3e7),
        pool_object("empty", tvl=2e7),
        pool_object("no-apy", tvl=1.5e7),
        pool_object("apy-string", tvl=1.2e7),
        pool_object("gone", tvl=1.1e7),
        pool_object("tiny", tvl=5_000),  # below min_tvl_usd: never requested
    ]
    api.script("/pools", ok(pools))
    api.script("/chart/ok-a", ok(good))
    api.script("/chart/ok-b", ok(chart_points(2, apy0=10.0)))
    api.script(
        "/chart/rate-limited", Reply(429, {"message": "Too Many"}, {"Retry-After": "1"}), ok(good)
    )
    api.script("/chart/flaky-5xx", Reply(500, b"Internal"), Reply(502, b"Bad Gateway"), ok(good))
    api.script(
        "/chart/slow", Reply(200, {"status": "success", "data": good}, delay_s=1.0), ok(good)
    )
    api.script("/chart/html", Reply(200, b"<html><body>cloudflare</body></html>"))
    api.script("/chart/status-error", Reply(200, {"status": "error", "data": "pool not found"}))
    api.script("/chart/empty", ok([]))
    api.script("/chart/no-apy", ok([{k: v for k, v in p.items() if k != "apy"} for p in good]))
    api.script("/chart/apy-string", ok([{**good[0], "apy": "5.0"}]))
    api.script("/chart/gone", Reply(404, {"status": "error"}))

    # 6 of 11 fail: 54.5%, allowed here.
    summary = run_ingestion(tmp_path, make_params(api.url, max_failed_share=0.6))

    assert summary["status"] == "ok"
    assert summary["pools_in_snapshot"] == 12
    assert summary["pools_selected"] == 11
    assert summary["pools_fetched"] == 5
    assert summary["pools_already_present"] == 0
    assert summary["pools_failed"] == 6
    assert summary["pools_failed_by_reason"] == {
        "empty_history": 1,
        "http_404": 1,
        "invalid_json": 1,
        "missing_field": 1,
        "mistyped_field": 1,
        "status_not_success": 1,
    }
    # 1 /pools + 11 charts + 1 retry after 429 + 2 after 5xx + 1 after the timeout.
    assert summary["requests"] == 16
    assert summary["retries"] == 4
    assert summary["chart_responses"] == {
        "200": 10,
        "404": 1,
        "429": 1,
        "500": 1,
        "502": 1,
        "timeout": 1,
    }
    assert {f["pool"]: f["reason"] for f in summary["failed_pools"]}["html"] == "invalid_json"
    assert api.count("/chart/rate-limited") == 2
    assert api.count("/chart/flaky-5xx") == 3
    assert api.count("/chart/slow") == 2
    assert api.count("/chart/tiny") == 0
    assert len(chart_paths(api)) == 15

    # pools_history: the pools.csv format, exactly.
    lines = (tmp_path / "pools_history.csv").read_text().splitlines()
    assert lines[0] == HEADER
    assert len(lines) == 1 + 3 + 2 + 3 + 3 + 3
    rows = list(csv.DictReader(lines))
    assert all(ISO_MS_UTC.match(row["timestamp"]) for row in rows)
    assert rows[0] == {
        "timestamp": "2025-03-01T23:01:43.207Z",
        "pool": "flaky-5xx",
        "chain": "Ethereum",
        "project": "aave-v3",
        "symbol": "USDC",
        "tvlUsd": "1000000.0",
        "apy": "5.0",
        "apyBase": "5.0",
        "apyReward": "",
    }
    history = pd.read_csv(tmp_path / "pools_history.csv")
    assert list(history.columns) == HEADER.split(",")
    assert sorted(history["pool"].unique()) == ["flaky-5xx", "ok-a", "ok-b", "rate-limited", "slow"]
    ok_b = history[history["pool"] == "ok-b"].reset_index(drop=True)
    assert ok_b["chain"].tolist() == ["Arbitrum", "Arbitrum"]
    assert ok_b["project"].tolist() == ["curve-dex", "curve-dex"]
    assert ok_b["symbol"].tolist() == ["DAI-USDT", "DAI-USDT"]
    assert ok_b["apy"].tolist() == [10.0, 10.25]
    assert ok_b["tvlUsd"].tolist() == [1_000_000.0, 1_001_000.0]
    assert ok_b["apyReward"].isna().tolist() == [True, False]
    when = pd.to_datetime(history["timestamp"], utc=True)
    assert when.is_monotonic_increasing

    # pools_snapshot: the /pools data array, as is (the dataEnriched.json shape).
    assert json.loads((tmp_path / "pools_snapshot.json").read_text()) == pools

    # One partition per fetched pool, in the raw API point format.
    stored = {p.stem for p in (tmp_path / "charts").iterdir()}
    assert stored == {"ok-a", "ok-b", "rate-limited", "flaky-5xx", "slow"}
    partition = json.loads((tmp_path / "charts" / "ok-a.json").read_text())
    assert partition["pool"] == "ok-a"
    assert partition["source"] == api.url
    assert partition["data"] == good


def test_too_many_failures_fail_the_run_with_a_summary_and_keep_what_was_fetched(api, tmp_path):
    pools = serve_healthy_pools(api, 4)
    for bad in ("p0", "p1"):  # the two largest, so with one worker they are tried first
        api.script(f"/chart/{bad}", Reply(503, b"down"))
    params = make_params(api.url, max_workers=1, max_failed_share=0.25, max_retries=1)

    with pytest.raises(IngestionError, match=r"2 of 4 pools failed .*'http_503': 2"):
        run_ingestion(tmp_path, params)

    summary = read_summary(tmp_path)
    assert summary["status"] == "failed"
    assert summary["aborted_early"] is True
    assert summary["pools_failed_by_reason"] == {"http_503": 2}
    assert summary["pools_fetched"] + summary["pools_not_attempted"] == 2
    # Neither raw file is written: no new snapshot beside an old history.
    assert not (tmp_path / "pools_history.csv").exists()
    assert not (tmp_path / "pools_snapshot.json").exists()
    assert len(pools) == 4


def test_interrupted_run_resumes_without_refetching(api, tmp_path):
    serve_healthy_pools(api, 6)
    # The server fails hard for the three smallest pools: the run fails...
    for bad in ("p3", "p4", "p5"):
        api.script(f"/chart/{bad}", Reply(500, b"down"))
    params = make_params(api.url, max_failed_share=0.0, max_retries=0, max_workers=1)
    with pytest.raises(IngestionError):
        run_ingestion(tmp_path, params)
    first = set(chart_paths(api))
    assert {"/chart/p0", "/chart/p1", "/chart/p2"} <= first
    assert read_summary(tmp_path)["pools_fetched"] == 3

    # ...and once the server recovers, the next run fetches only what is missing.
    serve_healthy_pools(api, 6)
    api.clear_log()
    summary = run_ingestion(tmp_path, make_params(api.url))
    assert sorted(chart_paths(api)) == ["/chart/p3", "/chart/p4", "/chart/p5"]
    assert api.count("/pools") == 1
    assert summary["pools_already_present"] == 3
    assert summary["pools_fetched"] == 3
    assert summary["requests"] == 4
    history = pd.read_csv(tmp_path / "pools_history.csv")
    assert sorted(history["pool"].unique()) == [f"p{i}" for i in range(6)]
    assert len(history) == 6 * 3

    # A third run has nothing left to fetch.
    api.clear_log()
    summary = run_ingestion(tmp_path, make_params(api.url))
    assert chart_paths(api) == []
    assert summary["pools_already_present"] == 6


class CrashingStore(PartitionStore):
    """Dies like a killed process after ``survive`` partitions were written."""

    def __init__(self, inner: PartitionStore, survive: int) -> None:
        self.inner, self.survive, self.saved = inner, survive, []

    def load_all(self):
        return self.inner.load_all()

    def save(self, key, data):
        if len(self.saved) == self.survive:
            raise RuntimeError("simulated crash")
        self.inner.save(key, data)
        self.saved.append(key)


def test_node_crash_midway_loses_nothing_written_and_resumes(api, tmp_path):
    pools = serve_healthy_pools(api, 8)
    params = make_params(api.url)
    store_ds = ResumablePartitionsDataset(
        path=str(tmp_path / "charts"), dataset="json.JSONDataset", filename_suffix=".json"
    )
    stats = {"pools_in_snapshot": 8, "requests": 1, "retries": 0, "seconds": 0.0}
    crashing = CrashingStore(store_ds.load(), survive=3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fetch_pool_charts(pools, crashing, stats, params)
    assert store_ds.load().keys() == set(crashing.saved)
    assert len(crashing.saved) == 3

    api.clear_log()
    charts, summary = fetch_pool_charts(pools, store_ds.load(), stats, params)
    refetched = {path.removeprefix("/chart/") for path in chart_paths(api)}
    assert refetched == {p["pool"] for p in pools} - set(crashing.saved)
    assert len(chart_paths(api)) == 5
    assert summary["pools_already_present"] == 3
    assert summary["pools_fetched"] == 5
    assert set(charts) == {p["pool"] for p in pools}


def test_corrupt_stale_or_foreign_partitions_are_refetched(api, tmp_path):
    serve_healthy_pools(api, 4)
    run_ingestion(tmp_path, make_params(api.url))
    charts = tmp_path / "charts"
    (charts / "p0.json").write_text('{"pool": "p0", "data": [')  # cut short by a kill
    stale = json.loads((charts / "p1.json").read_text())
    (charts / "p1.json").write_text(json.dumps({**stale, "fetched_at": "2020-01-01T00:00:00Z"}))
    foreign = json.loads((charts / "p2.json").read_text())
    (charts / "p2.json").write_text(json.dumps({**foreign, "source": "https://elsewhere"}))

    api.clear_log()
    summary = run_ingestion(tmp_path, make_params(api.url))
    assert sorted(chart_paths(api)) == ["/chart/p0", "/chart/p1", "/chart/p2"]
    assert summary["pools_refetched_by_reason"] == {"corrupt": 1, "other_source": 1, "stale": 1}
    assert summary["pools_already_present"] == 1


def test_request_rate_stays_under_the_limit(api, tmp_path):
    serve_healthy_pools(api, 20, n_points=1)
    rate = 40.0
    params = make_params(api.url, requests_per_second=rate, burst=1, max_workers=8)
    summary = run_ingestion(tmp_path, params)
    assert summary["requests"] == 21
    # The /pools call and the charts use separate buckets, so bound the 20 chart requests:
    # 20 tokens at 40/s with a burst of 1 cannot be spent in under 19/40 s. Only a lower
    # bound: a slow machine stretches the run, it can never compress it.
    times = [t for t, path in api.log if path.startswith("/chart/")]
    assert max(times) - min(times) >= (len(times) - 1) / rate * 0.8


def test_selection_filters_and_orders_deterministically(api, tmp_path):
    pools = [
        pool_object("small", tvl=2e6, chain="Ethereum"),
        pool_object("big-b", tvl=5e7, chain="Arbitrum"),
        pool_object("big-a", tvl=5e7, chain="arbitrum"),
        pool_object("volatile", tvl=9e7, stablecoin=False),
        pool_object("other-project", tvl=8e7, project="lido"),
        pool_object("too-small", tvl=10),
        pool_object("no-tvl", tvl=None),
    ]
    api.script("/pools", ok(pools))
    for pool in pools:
        api.script(f"/chart/{pool['pool']}", ok(chart_points(1)))
    selection = {
        "min_tvl_usd": 1_000_000,
        "chains": ["ARBITRUM", "Ethereum"],
        "projects": ["aave-v3"],
        "stablecoin_only": True,
        "max_pools": 2,
    }
    # Not a timeout test: a generous timeout keeps a slow first request from being retried.
    params = make_params(api.url, selection=selection, max_workers=1, timeout_s=5)
    run_ingestion(tmp_path, params)
    # Ties on TVL are broken by pool id; the cut to max_pools comes after the sort.
    assert chart_paths(api) == ["/chart/big-a", "/chart/big-b"]


def test_nothing_selected_is_an_error(api, tmp_path):
    api.script("/pools", ok([pool_object("tiny", tvl=1)]))
    with pytest.raises(IngestionError, match="no pool"):
        run_ingestion(tmp_path, make_params(api.url))


@pytest.mark.parametrize(
    "reply",
    [Reply(200, b"not json"), Reply(200, {"status": "error"}), Reply(500, b"down")],
)
def test_a_broken_pools_endpoint_fails_the_run_clearly(api, tmp_path, reply):
    api.script("/pools", reply)
    with pytest.raises(IngestionError, match="/pools failed"):
        run_ingestion(tmp_path, make_params(api.url, max_retries=1))
    assert chart_paths(api) == []


def test_pipeline_is_not_runnable_without_the_live_chart_store(api, tmp_path):
    # Without --env live there is no chart store: the run refuses to start rather than
    # overwrite the base raw datasets.
    serve_healthy_pools(api, 1)
    catalog = DataCatalog()
    catalog["params:ingestion"] = make_params(api.url)
    with pytest.raises(ValueError, match="ingestion_chart_store"):
        from kedro.runner import SequentialRunner

        SequentialRunner().run(create_pipeline(), catalog)
    assert api.paths() == []
