"""The API's NumPy path (state_arrays) equals the hourly run's pandas path, hour after hour."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.features.test_state import _snapshot_objects, history  # noqa: F401 (a fixture)
from yield_runway.contracts import contract_fields, contract_objects
from yield_runway.features import market, state, state_arrays
from yield_runway.features.hourly import compute_serving_features
from yield_runway.features.snapshot import parse_snapshot
from yield_runway.features.snapshot_objects import parse_objects
from yield_runway.predictions import contract_records, prediction_columns
from yield_runway.serving.pools import utc_timestamp


def _stored(frame: pd.DataFrame, days: int) -> dict[str, np.ndarray]:
    """A pandas state as the API reads it: through an .npz written without pickle."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **state.to_arrays(frame))
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        return state_arrays.read_columns({k: npz[k] for k in npz.files}, days)


def _assert_same_state(frame: pd.DataFrame, columns: dict[str, np.ndarray], days: int) -> None:
    """The pandas state and the NumPy one hold the same pools and values, exactly."""
    expected = _stored(frame, days)
    assert list(expected["pool"]) == list(columns["pool"])
    for name, values in expected.items():
        if values.dtype == object:
            assert list(values) == list(columns[name]), name
        else:
            np.testing.assert_array_equal(values, columns[name], err_msg=name)


def _context(objects: list[dict], frame: pd.DataFrame, at: pd.Timestamp, h: dict) -> dict:
    """The market an hourly run of `objects` stores (its own pools'), as JSON records."""
    rows, _ = parse_snapshot(objects, h["de"], h["de"]["apy_max"])
    current = state.update_state(frame, rows, at, state.trailing_days(h["fe"]))
    own = compute_serving_features(current, rows, at, h["mapping"], h["fe"], h["target"])
    return market.to_records(market.summarise(own, h["fe"]["market_context"]))


def _compare(frame: pd.DataFrame, objects: list, at: pd.Timestamp, context: dict, h: dict):
    """Run both paths on one request; assert equal; return the pandas state and features."""
    days = state.trailing_days(h["fe"])
    limit = h["de"]["apy_max"]
    rows, _ = parse_snapshot(objects, h["de"], limit)
    updated = state.update_state(frame, rows, at, days)
    expected = compute_serving_features(
        updated, rows, at, h["mapping"], h["fe"], h["target"], market_context=context
    )
    columns, _ = parse_objects(objects, h["de"]["snapshot_metadata_columns"], limit)
    moment = utc_timestamp(at.to_pydatetime())
    advanced = state_arrays.update_state(_stored(frame, days), columns, moment, days)
    _assert_same_state(updated, advanced, days)
    served = state_arrays.serving_features(
        advanced, columns, moment, h["mapping"], h["fe"], h["target"], context
    )
    assert list(served["pool"]) == list(expected["pool"])
    for name in [*h["feature_list"], "n_samples", "snapshot_apy"]:
        np.testing.assert_allclose(
            np.asarray(served[name], dtype=float),
            expected[name].to_numpy(dtype=float),
            rtol=1e-12,
            atol=1e-12,
            err_msg=name,
        )
    np.testing.assert_array_equal(served["stale_state"], expected["stale_state"].to_numpy())
    return updated, expected


def test_the_numpy_path_equals_the_hourly_path_hour_after_hour(history):  # noqa: F811
    """Every 12 hours through 80 days with gaps, each request against the previous run's market:
    state, features and market, both ways."""
    h = history
    clean = h["clean"].assign(date=h["clean"]["timestamp"].dt.tz_convert(None).dt.floor("D"))
    dates = sorted(clean["date"].unique())
    frame = state.build_state(h["daily"].loc[h["daily"]["date"] < dates[8]], h["fe"])
    clean = clean.loc[clean["date"] >= dates[8]]
    run_at = clean["timestamp"].dt.floor("12h")
    context, compared, with_values = None, 0, set()
    for at, rows in clean.groupby(run_at, sort=True):
        objects = _snapshot_objects(rows.groupby("pool").tail(1))
        context = context or _context(objects, frame, at, h)
        frame, expected = _compare(frame, objects, at, context, h)
        context = market.to_records(market.summarise(expected, h["fe"]["market_context"]))
        compared += len(objects)
        with_values |= {n for n in h["feature_list"] if expected[n].notna().any()}
    assert compared > 600
    assert with_values == set(h["feature_list"])


VALUES = st.one_of(
    st.none(),
    st.just(0.0),
    st.floats(-5, 2e5, allow_nan=False),
    st.integers(-3, 10**6),
    st.just(float("nan")),
)
TEXTS = st.one_of(st.none(), st.sampled_from(["Ethereum", " Arbitrum ", "", "aave-v3", "new-dex"]))
FLAG_TEXTS = st.one_of(
    st.none(), st.booleans(), st.sampled_from(["yes", " NO", "multi", "single", "maybe", "True"])
)


@st.composite
def requests(draw, pools: list[str]) -> tuple[list[dict], int]:
    """Snapshot objects of known and new pools with any values, and an hour offset."""
    chosen = draw(st.lists(st.sampled_from([*pools[:6], "new-a", " new-b ", "new-c"]),
                           min_size=1, max_size=8, unique_by=str.strip))  # fmt: skip
    objects = []
    for pool in chosen:
        item = {"pool": pool}
        for field in ("apy", "tvlUsd", "apyBase", "apyReward"):
            if draw(st.booleans()) or field in ("apy", "tvlUsd"):
                item[field] = draw(VALUES)
        for field in ("chain", "project"):
            if draw(st.booleans()):
                item[field] = draw(TEXTS)
        for field in ("stablecoin", "ilRisk", "exposure"):
            if draw(st.booleans()):
                item[field] = draw(FLAG_TEXTS)
        objects.append(item)
    return objects, draw(st.integers(-30, 24 * 40))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_request_is_answered_alike_by_both_paths(history, data):  # noqa: F811
    """Arbitrary values, new pools, pools ahead of the request, gaps of up to 40 days."""
    h = history
    day = sorted(h["daily"]["date"].unique())[50]
    frame = state.build_state(h["daily"].loc[h["daily"]["date"] < day], h["fe"])
    at = pd.Timestamp(day) + pd.Timedelta(hours=10)
    # The market an hourly run stored that day, from every pool it observed.
    rows = h["clean"].loc[h["clean"]["timestamp"].dt.tz_convert(None).dt.floor("D") == day]
    stored = _context(_snapshot_objects(rows.groupby("pool").tail(1)), frame, at, h)
    pools = sorted(frame["pool"])
    first, _ = data.draw(requests(pools))
    frame, _ = _compare(frame, first, at, stored, h)
    second, offset = data.draw(requests(pools))
    later = at + pd.Timedelta(hours=offset)
    own = _context(second, frame, later, h)
    # A request is scored against the stored market, or one of its own pools' (if any is seen).
    context = data.draw(st.sampled_from([stored, own] if own["market"] else [stored]))
    _compare(frame, second, later, context, h)


@given(st.lists(st.one_of(st.just(np.nan), st.floats(0, 1), st.sampled_from([0.5, 0.25, 0.75]))))
def test_the_contract_fields_are_those_of_the_pandas_contract(p):
    """Ties, NaN, halves: class, probability and tercile as the hourly run writes them."""
    p = np.asarray(p, dtype=float)
    assert contract_objects(contract_fields(p)) == contract_records(prediction_columns(p))


def test_a_state_missing_a_column_or_of_wrong_types_is_refused_by_name(history):  # noqa: F811
    days = state.trailing_days(history["fe"])
    frame = state.build_state(history["daily"], history["fe"])
    arrays = state.to_arrays(frame)
    with pytest.raises(state_arrays.StateFormatError, match="lacks column.*apy_t3"):
        state_arrays.read_columns({k: v for k, v in arrays.items() if k != "apy_t3"}, days)
    bad = {
        "last_date": arrays["mean"],  # floats for dates
        "count": arrays["mean"],  # floats (NaN) for counts
        "mean": arrays["mean"][:, None],  # a matrix
        "apy_t0": np.float64(1.0),  # a scalar
        "pool": np.arange(len(frame)),  # numbers for ids
    }
    for column, values in bad.items():
        with pytest.raises(state_arrays.StateFormatError, match=f"column {column} is"):
            state_arrays.read_columns({**arrays, column: values}, days)
    with pytest.raises(state_arrays.StateFormatError, match="differ in length"):
        state_arrays.read_columns({**arrays, "mean": arrays["mean"][:-1]}, days)
    twice = np.array([arrays["pool"][0]] * len(frame))
    with pytest.raises(state_arrays.StateFormatError, match="not distinct"):
        state_arrays.read_columns({**arrays, "pool": twice}, days)
