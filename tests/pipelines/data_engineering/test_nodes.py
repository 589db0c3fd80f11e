"""Tests of the data_engineering nodes on small hand-built histories, run on the engine."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from tests.pipelines.data_engineering import engine, reference
from yield_runway.contracts import HISTORY_COLUMNS
from yield_runway.features.snapshot import extract_pool_metadata
from yield_runway.pipelines.data_engineering.nodes import (
    check_history_growth,
    derive_observation_limits,
)


def _raw(rows: list[list]) -> pd.DataFrame:
    """A raw history frame of text values, as the file holds them."""
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS).astype("string")


def _good(ts: str, pool: str = "p1", apy: str = "5.0") -> list:
    return [ts, pool, "Ethereum", "aave-v3", "USDC", "1000", apy, apy, None]


@pytest.fixture
def de_params(parameters) -> dict:
    return {**parameters["data_engineering"], "apy_outlier_quantile": 1.0}


@pytest.fixture
def reduce(tmp_path):
    """Reduce a raw frame (written as a file) on the engine: observed pool-days and report."""

    def _reduce(raw: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, dict]:
        work = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        work.mkdir()
        days, report = engine.reduce(engine.write_csv(raw, work / "h.csv"), params, work)
        return days.order_by(["pool", "date"]).to_pandas(), report

    return _reduce


@pytest.fixture
def grid(tmp_path):
    """The daily grid of a raw frame and snapshot metadata, as the features read it."""

    def _grid(raw: pd.DataFrame, params: dict, metadata: pd.DataFrame) -> pd.DataFrame:
        return engine.daily(engine.write_csv(raw, tmp_path / "h.csv"), params, tmp_path, metadata)[
            0
        ]

    return _grid


def test_missing_column_is_named(reduce, de_params):
    raw = _raw([_good("2025-01-01T00:00:00.000Z")]).drop(columns=["apy", "chain"])
    with pytest.raises(ValueError, match=r"missing required column\(s\): chain, apy"):
        reduce(raw, de_params)


def test_bad_rows_are_dropped_and_counted(reduce, de_params, caplog):
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
        daily, report = reduce(_raw(rows), {**de_params, "daily_aggregation": "mean"})
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


def test_apy_outliers_above_quantile_are_dropped(reduce, de_params):
    rows = [
        _good(f"2025-01-01T{h:02d}:00:00.000Z", apy=str(a)) for h, a in enumerate([1, 2, 3, 9e4])
    ]
    params = {**de_params, "apy_outlier_quantile": 0.7, "daily_aggregation": "mean"}
    daily, report = reduce(_raw(rows), params)
    assert daily["apy"].tolist() == [2.0]
    assert report["rows_clean"] == 3
    assert report["dropped_by_reason"]["apy_outlier"] == 1


@pytest.mark.parametrize("seed", range(12))
def test_the_outlier_cap_is_numpys_quantile_of_the_distinct_clean_apys(reduce, de_params, seed):
    rng = np.random.default_rng(seed)
    # Rounded lognormal APYs: heavy tails and ties, as real APYs have; a few exact duplicates.
    apy = np.round(rng.lognormal(0.0, 2.0, 400), 2)
    rows = [
        _good(f"2025-01-{1 + i // 24:02d}T{i % 24:02d}:00:00Z", apy=f"{a}")
        for i, a in enumerate(apy)
    ]
    rows += rows[:7]
    q = [0.999, 0.99, 0.5, 0.0, 0.37, 0.999, 0.9, 1.0, 0.999, 0.999, 0.75, 0.999][seed]
    _, report = reduce(_raw(rows), {**de_params, "apy_outlier_quantile": q})
    assert report["apy_outlier_cap"] == float(np.quantile(apy, q))  # to the bit
    assert report["dropped_by_reason"]["apy_outlier"] == int((apy > np.quantile(apy, q)).sum())
    assert report["dropped_by_reason"]["duplicate_row"] == 7


def test_optional_columns_may_be_absent(reduce, de_params):
    raw = _raw([_good("2025-01-01T00:00:00.000Z")]).drop(columns=["apyBase", "apyReward"])
    daily, _ = reduce(raw, de_params)
    assert daily["apyReward"].isna().all() and daily["apy"].tolist() == [5.0]


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
def test_daily_aggregation_and_grid(grid, how, expected, de_params):
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
    daily = grid(raw, {**de_params, "daily_aggregation": how}, meta)
    p1 = daily.loc[daily["pool"] == "p1"]
    # A regular grid: the two missing days are rows with no observation.
    assert p1["date"].dt.strftime("%m-%d").tolist() == ["01-01", "01-02", "01-03", "01-04"]
    assert p1["observed"].tolist() == [True, False, False, True]
    assert p1["apy"].iloc[0] == expected and p1["apy"].iloc[3] == 8.0
    assert (p1["stablecoin"] == 1.0).all()
    p2 = daily.loc[daily["pool"] == "p2"]
    assert len(p2) == 1 and np.isnan(p2["stablecoin"].iloc[0])


def test_daily_aggregation_rejects_unknown_method(reduce, de_params):
    with pytest.raises(ValueError, match="daily_aggregation"):
        reduce(
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
def test_timestamps_outside_the_window_are_unparsable(reduce, de_params, timestamp):
    raw = _raw([_good("2025-01-01T01:00:00.000Z"), _good(timestamp, pool="p2")])
    daily, report = reduce(raw, de_params)
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


def test_a_history_with_no_usable_row_is_refused_with_the_reasons(reduce, de_params):
    raw = _raw([_good("2025-01-01T01:00:00.000Z", apy="-3"), _good("garbage", pool="p2")])
    with pytest.raises(ValueError, match="no usable row: 2 rows read, all dropped") as error:
        reduce(raw, de_params)
    assert "negative_apy=1" in str(error.value) and "unparsable_timestamp=1" in str(error.value)


def _reduced(days: dict[str, int]) -> ibis.Table:
    """Observed pool-days, an engine table: each pool's days from 2025-01-01."""
    frame = pd.DataFrame(
        [(pool, day) for pool, n in days.items() for day in pd.date_range("2025-01-01", periods=n)],
        columns=["pool", "date"],
    )
    return ibis.memtable(frame.assign(date=frame["date"].dt.date))


REPORT = {"rows_raw": 240, "rows_clean": 230, "pools": 4}
FOUR = {"a": 10, "b": 10, "c": 10, "d": 10}


def test_history_growth_passes_a_longer_history_on_and_summarises_it(de_params):
    trained = {"pool_last_dates": {"a": "2025-01-08", "b": "2025-01-10"}}
    daily = _reduced(FOUR)
    passed, report, summary = check_history_growth(daily, REPORT, trained, de_params)
    assert passed is daily and report == REPORT
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


def test_exact_duplicates_are_equal_as_read(reduce, de_params):
    rows = [
        _good("2025-01-01T01:00:00Z", apy="1.0"),
        _good("2025-01-01T01:00:00.000Z", apy="1"),  # the same instant and number as read
        _good("2025-01-01T02:00:00Z", apy=""),
        _good("2025-01-01T02:00:00Z", apy="n/a"),  # not blank: another reading, another reason
        _good("2025-01-01T03:00:00Z", pool=" p1"),  # another text: not a duplicate
    ]
    daily, report = reduce(_raw(rows), {**de_params, "daily_aggregation": "mean"})
    dropped = report["dropped_by_reason"]
    assert (dropped["duplicate_row"], dropped["missing_apy"], dropped["non_numeric_apy"]) == (
        1,
        1,
        1,
    )
    assert report["rows_clean"] == 2 and daily["pool"].tolist() == ["p1"]


def test_last_is_the_latest_known_value_of_each_column(reduce, de_params):
    rows = [
        [*_good("2025-01-01T05:00:00Z", apy="2.0")[:7], "1.5", "0.5"],
        [*_good("2025-01-01T09:00:00Z", apy="4.0")[:7], "4.0", None],  # no reward: 05:00's holds
        [*_good("2025-01-01T07:00:00Z", apy="3.0")[:7], "3.0", "9.0"],  # earlier in the day
        [*_good("2025-01-02T09:00:00Z", apy="6.0")[:2], None, "aave-v4", "USDC", "1000", "6", "6"]
        + [None],
    ]
    daily, _ = reduce(_raw(rows), de_params)
    assert daily["apy"].tolist() == [4.0, 6.0] and daily["apyReward"].tolist()[0] == 9.0
    # A pool's attributes are its latest known ones, on every day.
    assert daily["chain"].tolist() == ["Ethereum", "Ethereum"]
    assert daily["project"].tolist() == ["aave-v4", "aave-v4"]


def test_two_readings_at_one_instant_give_one_of_them(reduce, de_params):
    rows = [_good("2025-01-01T09:00:00Z", apy="4.0"), _good("2025-01-01T09:00:00Z", apy="3.0")]
    daily, report = reduce(_raw(rows), de_params)
    assert report["rows_clean"] == 2 and daily["apy"].iloc[0] in (3.0, 4.0)


def test_a_calendar_day_is_a_utc_day(reduce, de_params):
    rows = [
        _good("2025-01-01T23:30:00-02:00", apy="1"),
        _good("2025-01-02T01:00:00+03:00", apy="2"),
    ]
    daily, _ = reduce(_raw(rows), de_params)
    assert daily["date"].astype(str).tolist() == ["2025-01-01", "2025-01-02"]
    assert daily["apy"].tolist() == [2.0, 1.0]


def test_texts_are_read_as_python_and_pandas_read_them(reduce, de_params):
    rows = [
        _good("2025-01-01T01:00:00Z", pool="p1\xa0"),  # a no-break space is whitespace
        _good("2025-01-01T02:00:00Z", pool="\x0b"),  # so is a vertical tab: a blank pool
        [*_good("2025-01-01T03:00:00Z")[:5], "1_000", "5", "5", None],  # not a number to pandas
        _good("2025-01-01T04:00:00Z", pool="p1"),
    ]
    daily, report = reduce(_raw(rows), de_params)
    _, expected = reference.clean_pools_history(_raw(rows), de_params)
    assert report["dropped_by_reason"] == expected["dropped_by_reason"]
    assert report["dropped_by_reason"]["missing_pool"] == 1
    assert report["dropped_by_reason"]["invalid_tvl"] == 1
    assert daily["pool"].tolist() == ["p1"]
