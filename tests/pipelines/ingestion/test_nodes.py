import pandas as pd
import pytest

from tests.ingestion.fake_api import pool_object
from yield_runway.pipelines.ingestion.nodes import (
    HISTORY_COLUMNS,
    IngestionError,
    build_pools_history,
    check_failed_share,
)


def test_history_normalises_timestamps_dedupes_and_sorts():
    pools = [pool_object("b", symbol="WETH"), pool_object("a", chain=None, symbol="DAI")]
    charts = {
        "b": [
            {"timestamp": "2025-03-02T00:00:00Z", "tvlUsd": 2, "apy": 2.5},
            {"timestamp": "2025-03-01T01:00:00+01:00", "tvlUsd": 1, "apy": None},
        ],
        "a": [
            {"timestamp": "2025-03-01T00:00:00.000Z", "tvlUsd": 5, "apy": 1, "apyBase": 1},
            {"timestamp": "2025-03-01T00:00:00.000Z", "tvlUsd": 6, "apy": 1.5, "apyBase": 1},
            {"timestamp": "2025-03-03T12:30:00.5", "tvlUsd": 7, "apy": 2, "apyReward": 0.5},
        ],
    }
    history = build_pools_history(pools, charts)
    assert list(history.columns) == HISTORY_COLUMNS
    assert history["timestamp"].tolist() == [
        "2025-03-01T00:00:00.000Z",  # a: the later duplicate wins
        "2025-03-01T00:00:00.000Z",  # b: +01:00 converted to UTC; sorted by pool on ties
        "2025-03-02T00:00:00.000Z",
        "2025-03-03T12:30:00.500Z",  # naive means UTC
    ]
    assert history["pool"].tolist() == ["a", "b", "b", "a"]
    assert history["tvlUsd"].tolist() == [6.0, 1.0, 2.0, 7.0]
    assert history["symbol"].tolist() == ["DAI", "WETH", "WETH", "DAI"]
    assert history["chain"].isna().tolist() == [True, False, False, True]
    assert history["apy"].isna().tolist() == [False, True, False, False]
    assert history["apyReward"].isna().tolist() == [True, True, True, False]
    assert all(history[c].dtype == "float64" for c in ["tvlUsd", "apy", "apyBase", "apyReward"])


def test_history_without_charts_has_the_header_only():
    history = build_pools_history([pool_object("a")], {})
    assert list(history.columns) == HISTORY_COLUMNS
    assert history.empty


def summary(failed: int, selected: int = 10, aborted: bool = False) -> dict:
    return {
        "pools_failed": failed,
        "pools_selected": selected,
        "pools_failed_by_reason": {"http_500": failed},
        "pools_fetched": selected - failed,
        "pools_already_present": 0,
        "aborted_early": aborted,
    }


def test_failed_share_at_the_limit_passes_the_charts_on():
    charts = {"a": []}
    assert check_failed_share(summary(1), charts, 0.1) is charts


def test_failed_share_over_the_limit_fails_with_the_reasons():
    with pytest.raises(IngestionError, match=r"2 of 10 pools failed .*http_500"):
        check_failed_share(summary(2), {}, 0.1)


def test_early_abort_always_fails():
    with pytest.raises(IngestionError):
        check_failed_share(summary(0, aborted=True), {}, 0.1)


def test_history_dtypes_survive_a_csv_round_trip(tmp_path):
    history = build_pools_history(
        [pool_object("a")], {"a": [{"timestamp": "2025-03-01T00:00:00Z", "tvlUsd": 1, "apy": 2}]}
    )
    history.to_csv(tmp_path / "h.csv", index=False)
    assert (tmp_path / "h.csv").read_text().splitlines() == [
        ",".join(HISTORY_COLUMNS),
        "2025-03-01T00:00:00.000Z,a,Ethereum,aave-v3,USDC,1.0,2.0,,",
    ]
    assert pd.read_csv(tmp_path / "h.csv", dtype=str, keep_default_na=False).shape == (1, 9)
