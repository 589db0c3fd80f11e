"""Tests of the data_engineering nodes on small hand-built frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from yield_runway.contracts import HISTORY_COLUMNS
from yield_runway.features.snapshot import extract_pool_metadata
from yield_runway.pipelines.data_engineering import reference
from yield_runway.pipelines.data_engineering.nodes import (
    _outlier_cap,
    build_daily_grid,
    check_history_growth,
    derive_observation_limits,
    reduce_pools_history,
)


def _raw(rows: list[list]) -> pd.DataFrame:
    """A raw history frame of text values, as the catalog loads it."""
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS).astype("string")


def _good(ts: str, pool: str = "p1", apy: str = "5.0") -> list:
    return [ts, pool, "Ethereum", "aave-v3", "USDC", "1000", apy, apy, None]


@pytest.fixture
def de_params(parameters) -> dict:
    return {**parameters["data_engineering"], "apy_outlier_quantile": 1.0}


def test_missing_column_is_named(de_params):
    raw = _raw([_good("2025-01-01T00:00:00.000Z")]).drop(columns=["apy", "chain"])
    with pytest.raises(ValueError, match=r"missing required column\(s\): chain, apy"):
        reduce_pools_history(raw, de_params)


def test_bad_rows_are_dropped_and_counted(de_params, caplog):
    rows = [
        _good("2025-01-01T01:00:00.000Z"),
        _good("2025-01-01T01:00:00.000Z"),  # exact duplicate
        _good("2025-01-01T02:00:00.000Z", pool=None),
        _good("2025-01-01T02:00:00.000Z", pool="  "),
        _good("not a time"),
        _good("2025-01-01T03:00:00.000Z", apy=None),
        _good("2025-01-01T04:00:00.000Z", apy="NaN"),
        _good("2025-01-01T05:00:00.000Z", apy="abc"),
        _good("2025-01-01T05:30:00.000Z", apy="inf"),
        _good("2025-01-01T06:00:00.000Z", apy="-3"),
        _good("2025-01-01T06:30:00.000Z", apy="1e6"),
        [*_good("2025-01-01T07:00:00.000Z")[:5], "-1", "5", "5", None],
        _good("2025-01-01T08:00:00.000Z", apy="7.5"),
    ]
    with caplog.at_level("INFO"):
        daily, report = reduce_pools_history(_raw(rows), {**de_params, "daily_aggregation": "mean"})
    assert report["dropped_by_reason"] == {
        "duplicate_row": 1,
        "missing_pool": 2,
        "unparsable_timestamp": 1,
        "missing_apy": 2,
        "non_numeric_apy": 2,
        "negative_apy": 1,
        "absurd_apy": 1,
        "invalid_tvl": 1,
        "malformed_row": 0,
        "apy_outlier": 0,
    }
    assert report["rows_raw"] == 13 and report["rows_clean"] == 2
    # The two clean rows (5.0 at 01:00 and 7.5 at 08:00 UTC) make one pool-day.
    assert daily["apy"].tolist() == [6.25]
    assert daily["date"].tolist() == [pd.Timestamp("2025-01-01")]
    assert "dropped duplicate_row=1, missing_pool=2" in caplog.text


def test_apy_outliers_above_quantile_are_dropped(de_params):
    rows = [
        _good(f"2025-01-01T{h:02d}:00:00.000Z", apy=str(a)) for h, a in enumerate([1, 2, 3, 9e4])
    ]
    params = {**de_params, "apy_outlier_quantile": 0.7, "daily_aggregation": "mean"}
    daily, report = reduce_pools_history(_raw(rows), params)
    assert daily["apy"].tolist() == [2.0]
    assert report["rows_clean"] == 3
    assert report["dropped_by_reason"]["apy_outlier"] == 1


def test_outlier_cap_from_the_suspects_is_numpys_quantile_of_every_apy():
    rng = np.random.default_rng(7)
    paths = set()
    for _ in range(600):
        batches, suspects, guards = [], [], []
        for _ in range(int(rng.integers(1, 5))):
            # Rounded lognormal APYs: heavy tails and ties, as real APYs have.
            apy = np.round(rng.lognormal(0.0, 2.0, int(rng.integers(1, 300))), 2)
            guard = float(np.quantile(apy[::8], 0.99)) if rng.random() < 0.8 else float(apy[0])
            batches.append(apy)
            suspects.append({"apy": apy[apy > guard]})
            guards.append(guard)
        q = float(rng.choice([0.999, 0.99, 0.5, 0.0, 1.0]))
        run = {"clean_apy": batches, "suspects": suspects, "guard": max(guards)}
        every = np.concatenate(batches)
        expected = float(np.quantile(every, q))
        assert _outlier_cap(run, len(every), q) == (expected, int((every > expected).sum()))
        top = np.concatenate([s["apy"] for s in suspects])
        paths.add(int(np.floor((len(every) - 1) * q)) >= len(every) - (top > max(guards)).sum())
    assert paths == {True, False}  # both the suspects-only and the whole-array path ran
    assert _outlier_cap({"clean_apy": [], "suspects": [], "guard": -np.inf}, 0, 0.999) == (
        np.inf,
        0,
    )


def test_optional_columns_may_be_absent(de_params):
    raw = _raw([_good("2025-01-01T00:00:00.000Z")]).drop(columns=["apyBase", "apyReward"])
    daily, _ = reduce_pools_history(raw, de_params)
    assert "apyReward" not in daily.columns and daily["apy"].tolist() == [5.0]


def test_snapshot_flags_are_encoded():
    snapshot = [
        {"pool": "a", "stablecoin": True, "ilRisk": "no", "exposure": "single"},
        {"pool": "b", "stablecoin": False, "ilRisk": "yes", "exposure": "multi"},
        {"pool": "c", "stablecoin": None, "ilRisk": None},
        {"pool": None, "stablecoin": True},
    ]
    params = {"snapshot_metadata_columns": ["stablecoin", "ilRisk", "exposure"]}
    meta = extract_pool_metadata(snapshot, params)
    assert meta["pool"].tolist() == ["a", "b", "c"]
    assert meta["stablecoin"].tolist()[:2] == [1.0, 0.0] and np.isnan(meta["stablecoin"][2])
    assert meta["ilRisk"].tolist()[:2] == [0.0, 1.0]
    assert meta["exposure"].tolist()[:2] == [0.0, 1.0] and np.isnan(meta["exposure"][2])


def _history(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """Raw text rows of one chain/project/symbol, constant TVL and no APY components."""
    return _raw(
        [
            [ts, pool, "Ethereum", "aave-v3", "USDC", "100", str(apy), None, None]
            for ts, pool, apy in rows
        ]
    )


@pytest.mark.parametrize("how, expected", [("last", 3.0), ("mean", 2.0), ("median", 2.0)])
def test_daily_aggregation_and_grid(how, expected, de_params):
    raw = _history(
        [
            ("2025-01-01T01:00:00Z", "p1", 1.0),
            ("2025-01-01T23:59:00Z", "p1", 3.0),
            ("2025-01-01T12:00:00Z", "p1", 2.0),  # out of order: "last" means latest in time
            ("2025-01-04T05:00:00Z", "p1", 8.0),
            ("2025-01-02T05:00:00Z", "p2", 4.0),
        ]
    )
    meta = pd.DataFrame({"pool": ["p1"], "stablecoin": [1.0], "ilRisk": [0.0], "exposure": [0.0]})
    observed, _ = reduce_pools_history(raw, {**de_params, "daily_aggregation": how})
    daily = build_daily_grid(observed, meta)
    p1 = daily.loc[daily["pool"] == "p1"]
    # A regular grid: the two missing days are rows with no observation.
    assert p1["date"].dt.strftime("%m-%d").tolist() == ["01-01", "01-02", "01-03", "01-04"]
    assert p1["observed"].tolist() == [True, False, False, True]
    assert p1["apy"].iloc[0] == expected and p1["apy"].iloc[3] == 8.0
    assert (p1["stablecoin"] == 1.0).all()
    p2 = daily.loc[daily["pool"] == "p2"]
    assert len(p2) == 1 and np.isnan(p2["stablecoin"].iloc[0])


def test_daily_aggregation_rejects_unknown_method(de_params):
    with pytest.raises(ValueError, match="daily_aggregation"):
        reduce_pools_history(
            _history([("2025-01-01T01:00:00Z", "p1", 1.0)]),
            {**de_params, "daily_aggregation": "max"},
        )


@pytest.mark.parametrize(
    "timestamp",
    [
        "0001-01-01T00:00:00Z",  # parses, but nanoseconds cannot hold it (it used to wrap)
        "1420-05-01T00:00:00.000Z",  # would wrap into this century
        "2263-01-01T00:00:00+00:00",  # past the nanosecond range, non-canonical spelling
        "2014-12-31T23:59:59.000Z",  # representable, before the parameter window
        "2100-01-01T00:00:00.000Z",  # the window's end is exclusive
    ],
)
def test_timestamps_outside_the_window_are_unparsable(de_params, timestamp):
    raw = _raw([_good("2025-01-01T01:00:00.000Z"), _good(timestamp, pool="p2")])
    daily, report = reduce_pools_history(raw, de_params)
    assert report["dropped_by_reason"]["unparsable_timestamp"] == 1
    assert daily["pool"].tolist() == ["p1"]
    # The whole-file reference agrees.
    clean, reference_report = reference.clean_pools_history(raw, de_params)
    assert reference_report["dropped_by_reason"] == report["dropped_by_reason"]
    assert clean["pool"].tolist() == ["p1"]


def test_observation_limits_are_the_tighter_of_the_caps(de_params):
    report = {"apy_outlier_cap": 7934.4}
    limits = derive_observation_limits(report, {**de_params, "apy_max": 100000})
    assert limits == {"apy_max": 100000.0, "apy_outlier_cap": 7934.4, "apy_limit": 7934.4}
    assert derive_observation_limits(report, {**de_params, "apy_max": 5000})["apy_limit"] == 5000.0


def test_a_history_with_no_usable_row_is_refused_with_the_reasons(de_params):
    raw = _raw([_good("2025-01-01T01:00:00.000Z", apy="-3"), _good("garbage", pool="p2")])
    with pytest.raises(ValueError, match="no usable row: 2 rows read, all dropped") as error:
        reduce_pools_history(raw, de_params)
    assert "negative_apy=1" in str(error.value) and "unparsable_timestamp=1" in str(error.value)
    # A header and no row: the same refusal, not an empty model.
    header_only = iter([pa.RecordBatch.from_pandas(_raw([]), preserve_index=False)])
    with pytest.raises(ValueError, match="0 rows read, all dropped \\(the file has no row\\)"):
        reduce_pools_history(header_only, de_params)


def _reduced(days: dict[str, int]) -> pd.DataFrame:
    """Observed pool-days: each pool's days from 2025-01-01."""
    return pd.DataFrame(
        [(pool, day) for pool, n in days.items() for day in pd.date_range("2025-01-01", periods=n)],
        columns=["pool", "date"],
    )


REPORT = {"rows_raw": 240, "rows_clean": 230, "pools": 4}
FOUR = {"a": 10, "b": 10, "c": 10, "d": 10}


def test_history_growth_passes_a_longer_history_on_and_summarises_it(de_params):
    trained = {"pool_last_dates": {"a": "2025-01-08", "b": "2025-01-10"}}
    daily = _reduced(FOUR)
    passed, report, summary = check_history_growth(daily, REPORT, trained, de_params)
    assert passed is daily and report is REPORT
    assert summary == {
        "rows_raw": 240,
        "rows_clean": 230,
        "pools": 4,
        "first_date": "2025-01-01",
        "last_date": "2025-01-10",
        "pool_last_dates": dict.fromkeys("abcd", "2025-01-10"),
    }
    assert check_history_growth(daily, REPORT, {}, de_params)[2] == summary  # first training


@pytest.mark.parametrize(
    ("now", "says"),
    [
        ({"a": 10, "b": 10}, "trained on (2 gone, 0 ending earlier; 50% > "),
        ({"a": 10, "b": 10, "c": 9, "d": 8}, "trained on (0 gone, 2 ending earlier"),
    ],
)
def test_a_history_that_lost_pools_is_refused(de_params, now, says):
    trained = {"pool_last_dates": dict.fromkeys("abcd", "2025-01-10")}
    with pytest.raises(ValueError, match="pools_history lost") as error:
        check_history_growth(_reduced(now), REPORT, trained, de_params)
    assert says in str(error.value) and "allow_shrunk_history=true" in str(error.value)
    allowed = {**de_params, "allow_shrunk_history": True}
    assert check_history_growth(_reduced(now), REPORT, trained, allowed)[2]["pools"] == len(now)


def test_a_few_pools_may_go(de_params):
    # A live ingestion refetches today's top pools: one of four rotated out is 25%, allowed.
    trained = {"pool_last_dates": dict.fromkeys("abcd", "2025-01-10")}
    now = {"a": 10, "b": 10, "c": 10, "e": 3}
    assert check_history_growth(_reduced(now), REPORT, trained, de_params)[2]["pools"] == 4
