"""The per-pool feature state: no train/serve skew, idempotent hours, gaps, new and absent pools."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import load_parameters, make_raw_history

# The whole-file path, proven identical to the engine's nodes by
# tests/pipelines/data_engineering/test_matches_reference.py; it also yields the clean
# per-snapshot rows this test replays hour by hour.
from tests.pipelines.data_engineering.reference import aggregate_daily, clean_pools_history
from yield_runway.features import daily, state
from yield_runway.features.snapshot import extract_pool_metadata, parse_snapshot
from yield_runway.pipelines.feature_engineering.nodes import (
    compute_pool_features,
    fit_categorical_mapping,
)

FLAGS = [
    {"stablecoin": True, "ilRisk": "no", "exposure": "single"},
    {"stablecoin": False, "ilRisk": "yes", "exposure": "multi"},
    {"stablecoin": None, "ilRisk": None, "exposure": "multi"},
]


def _history_with_gaps(seed: int = 11) -> pd.DataFrame:
    """A raw history with random missed days, a long outage of one pool and a missed run day."""
    raw = make_raw_history(n_pools=9, n_days=90, seed=seed)
    rng = np.random.default_rng(seed)
    day = pd.to_datetime(raw["timestamp"], utc=True).dt.floor("D")
    day_number = (day - day.min()).dt.days
    pool_day = raw["pool"].astype(str) + ":" + day_number.astype(str)
    keys = pool_day.unique()
    missed = pool_day.isin(set(rng.choice(keys, size=len(keys) // 7, replace=False)))
    # pool-001 is away for 45 days (longer than every window), everyone misses day 60.
    away = (raw["pool"] == "pool-001") & day_number.between(30, 74)
    drop = missed | away | (day_number == 60)
    return raw.loc[~drop].reset_index(drop=True)


def _snapshot_objects(rows: pd.DataFrame) -> list[dict]:
    """Snapshot pool objects (dataEnriched shape) from cleaned history rows."""
    return [
        {
            "pool": r.pool,
            "chain": r.chain,
            "project": r.project,
            "symbol": r.symbol,
            "tvlUsd": r.tvlUsd,
            "apy": r.apy,
            "apyBase": None if np.isnan(r.apyBase) else r.apyBase,
            "apyReward": None if np.isnan(r.apyReward) else r.apyReward,
            **FLAGS[int(r.pool[-3:]) % len(FLAGS)],
        }
        for r in rows.itertuples()
    ]


@pytest.fixture(scope="module")
def history() -> dict:
    params = load_parameters()
    de, fe = params["data_engineering"], params["feature_engineering"]
    clean, _ = clean_pools_history(_history_with_gaps(), de)
    meta = extract_pool_metadata(_snapshot_objects(clean.groupby("pool").tail(1)), de)
    pools_daily = aggregate_daily(clean, meta, de)
    mapping = fit_categorical_mapping(pools_daily, fe)
    # One project unknown to the mapping: its code must be -1 on both sides.
    mapping["project_factorized"].pop("uniswap-v3")
    features = compute_pool_features(pools_daily, mapping, fe, params["target"]).set_index(
        ["pool", "date"]
    )
    return {
        "de": de,
        "fe": fe,
        "target": params["target"],
        "clean": clean,
        "daily": pools_daily,
        "mapping": mapping,
        "features": features,
        "feature_list": daily.feature_names(fe),
    }


def _run(current: pd.DataFrame, objects: list[dict], at: pd.Timestamp, h: dict) -> pd.DataFrame:
    """One hourly run's state update."""
    rows, _ = parse_snapshot(objects, h["de"], h["de"]["apy_max"])
    return state.update_state(current, rows, at, state.trailing_days(h["fe"]))


def _serve(
    current: pd.DataFrame, objects: list[dict], at: pd.Timestamp, h: dict, universe=None
) -> pd.DataFrame:
    """Features the hourly run computes for the snapshot's pools."""
    rows, _ = parse_snapshot(objects, h["de"], h["de"]["apy_max"])
    return state.serving_features(
        current, rows, at, h["mapping"], h["fe"], h["target"], market_universe=universe
    )


def _assert_same_features(served: pd.DataFrame, day: pd.Timestamp, h: dict) -> set[str]:
    """Assert served features equal training's; return the features that held a value."""
    expected = h["features"].loc[[(p, day) for p in served["pool"]]]
    for name in [*h["feature_list"], "n_samples"]:
        np.testing.assert_allclose(
            served[name].to_numpy(dtype=float),
            expected[name].to_numpy(dtype=float),
            rtol=1e-9,
            atol=1e-9,
            err_msg=f"{name} on {day.date()}",
        )
    return {name for name in h["feature_list"] if expected[name].notna().any()}


def test_hourly_runs_reproduce_training_features_every_day(history):
    """Runs at each snapshot hour from an early state; compare after each day's last hour."""
    h = history
    clean = h["clean"].assign(date=h["clean"]["timestamp"].dt.tz_convert(None).dt.floor("D"))
    dates = sorted(clean["date"].unique())
    start = dates[8]
    current = state.build_state(h["daily"].loc[h["daily"]["date"] < start], h["fe"])
    # Runs every 12 hours, each pool's latest snapshot in the window, as an hourly job sees it.
    clean = clean.loc[clean["date"] >= start]
    run_at = clean["timestamp"].dt.floor("12h")
    compared, with_values = 0, set()
    for day, day_rows in clean.groupby("date", sort=True):
        for at, rows in day_rows.groupby(run_at.loc[day_rows.index], sort=True):
            objects = _snapshot_objects(rows.groupby("pool").tail(1))
            current = _run(current, objects, at, h)
        observed = _snapshot_objects(day_rows.groupby("pool").tail(1))
        with_values |= _assert_same_features(_serve(current, observed, at, h), pd.Timestamp(day), h)
        compared += len(observed)
    assert compared > 500
    # Every feature was compared on real values somewhere, the realised label and context too.
    assert with_values == set(h["feature_list"])


def test_pools_outside_the_training_universe_do_not_move_the_market(history):
    """A snapshot listing more pools than training saw (the live API's full list)."""
    h = history
    clean = h["clean"].assign(date=h["clean"]["timestamp"].dt.tz_convert(None).dt.floor("D"))
    day = sorted(clean["date"].unique())[40]
    current = state.build_state(h["daily"].loc[h["daily"]["date"] < day], h["fe"])
    observed = _snapshot_objects(clean.loc[clean["date"] == day].groupby("pool").tail(1))
    strangers = [
        {**o, "pool": f"other-{i}", "apy": 50.0 + i, "project": "new-dex"}
        for i, o in enumerate(observed * 3)
    ]
    at = pd.Timestamp(day) + pd.Timedelta(hours=23)
    universe = sorted(h["daily"]["pool"].unique())
    current = _run(current, observed + strangers, at, h)
    served = _serve(current, observed + strangers, at, h, universe)
    _assert_same_features(served.iloc[: len(observed)], pd.Timestamp(day), h)
    # Without the universe the strangers would be the market: the ranks move.
    mixed = _serve(current, observed + strangers, at, h)
    assert not np.allclose(
        mixed["mkt_apy_pct_rank"].iloc[: len(observed)],
        served["mkt_apy_pct_rank"].iloc[: len(observed)],
    )


def test_state_built_from_history_matches_training_for_many_days(history):
    h = history
    observed = h["daily"].loc[h["daily"]["observed"]]
    last_rows = h["clean"].assign(date=h["clean"]["timestamp"].dt.tz_convert(None).dt.floor("D"))
    last_rows = last_rows.groupby(["pool", "date"]).tail(1)
    for day in sorted(observed["date"].unique())[1::9]:
        day = pd.Timestamp(day)
        current = state.build_state(h["daily"].loc[h["daily"]["date"] < day], h["fe"])
        objects = _snapshot_objects(last_rows.loc[last_rows["date"] == day])
        at = day + pd.Timedelta(hours=23)
        _assert_same_features(_serve(_run(current, objects, at, h), objects, at, h), day, h)


def _frame(values: dict, **extra) -> list[dict]:
    return [
        {"pool": p, "chain": "Ethereum", "project": "aave-v3", **v, **extra}
        for p, v in values.items()
    ]


@pytest.fixture
def fe() -> dict:
    return load_parameters()["feature_engineering"]


@pytest.fixture
def de() -> dict:
    return load_parameters()["data_engineering"]


def _update(current, objects, at, de, fe):
    rows, _ = parse_snapshot(objects, de, de["apy_max"])
    return state.update_state(current, rows, pd.Timestamp(at), state.trailing_days(fe))


def test_same_hour_twice_changes_nothing(de, fe):
    empty = state.empty_state(state.trailing_days(fe))
    day1 = _update(empty, _frame({"a": {"apy": 5.0, "tvlUsd": 1e6}}), "2025-03-01T10:00Z", de, fe)
    day2 = _update(day1, _frame({"a": {"apy": 6.0, "tvlUsd": 1e6}}), "2025-03-02T10:00Z", de, fe)
    again = _update(day2, _frame({"a": {"apy": 6.0, "tvlUsd": 1e6}}), "2025-03-02T10:00Z", de, fe)
    pd.testing.assert_frame_equal(day2, again)
    # A later hour overwrites the pending day; it is committed once, by the next day's run.
    later = _update(again, _frame({"a": {"apy": 7.0, "tvlUsd": 1e6}}), "2025-03-02T20:00Z", de, fe)
    day3 = _update(later, _frame({"a": {"apy": 8.0, "tvlUsd": 1e6}}), "2025-03-03T01:00Z", de, fe)
    row = day3.iloc[0]
    assert row["count"] == 2 and row["mean"] == pytest.approx(6.0)
    assert row["apy_t0"] == 7.0 and row["apy_t1"] == 5.0 and row["pending_apy"] == 8.0


def test_missed_days_are_gaps_and_absent_pools_keep_their_state(de, fe):
    empty = state.empty_state(state.trailing_days(fe))
    two = _frame({"a": {"apy": 5.0, "tvlUsd": 1.0}, "b": {"apy": 2.0, "tvlUsd": 1.0}})
    s = _update(empty, two, "2025-03-01T10:00Z", de, fe)
    # No run on 03-02 and 03-03; `b` is absent from the 03-04 snapshot.
    s = _update(s, _frame({"a": {"apy": 9.0, "tvlUsd": 1.0}}), "2025-03-04T10:00Z", de, fe)
    a, b = s.set_index("pool").loc["a"], s.set_index("pool").loc["b"]
    assert a["count"] == 1 and a["last_date"] == pd.Timestamp("2025-03-01")
    assert b["count"] == 1 and b["pending_date"] is pd.NaT or pd.isna(b["pending_date"])
    s = _update(s, _frame({"a": {"apy": 9.0, "tvlUsd": 1.0}}), "2025-03-05T10:00Z", de, fe)
    a = s.set_index("pool").loc["a"]
    assert a["count"] == 2 and a["apy_t0"] == 9.0
    assert np.isnan(a["apy_t1"]) and np.isnan(a["apy_t2"]) and a["apy_t3"] == 5.0
    # A new pool starts fresh; an invalid snapshot value neither creates nor advances state.
    s = _update(
        s,
        _frame({"c": {"apy": 1.0, "tvlUsd": 1.0}, "d": {"apy": None}}),
        "2025-03-05T11:00Z",
        de,
        fe,
    )
    assert s.set_index("pool").loc["c", "count"] == 0 and "d" not in set(s["pool"])


def test_an_older_hour_does_not_overwrite_a_newer_one(de, fe):
    empty = state.empty_state(state.trailing_days(fe))
    s = _update(empty, _frame({"a": {"apy": 5.0, "tvlUsd": 1.0}}), "2025-03-01T20:00Z", de, fe)
    older = _update(s, _frame({"a": {"apy": 1.0, "tvlUsd": 1.0}}), "2025-03-01T08:00Z", de, fe)
    pd.testing.assert_frame_equal(s, older)
