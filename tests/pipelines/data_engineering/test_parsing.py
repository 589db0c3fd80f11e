"""The Arrow/NumPy parsers agree with pandas' parsers on every kind of text, value by value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from yield_runway.pipelines.data_engineering.parsing import NAT, parse_float, parse_instants

INSTANTS = [
    "2025-01-01T00:00:00.000Z",
    "2025-06-30T23:59:59.999Z",
    "2024-02-29T12:00:00.000Z",  # leap day
    "2025-02-29T12:00:00.000Z",  # not a day
    "2025-02-30T25:61:00.000Z",
    "2100-02-29T00:00:00.000Z",  # not a leap year
    "2000-02-29T00:00:00.000Z",  # a leap year
    "1969-12-31T23:59:59.123Z",
    "2025-13-01T00:00:00.000Z",
    "2025-01-01T00:00:60.000Z",
    "2025-01-01T00:00:00Z",
    "2025-01-01T00:00:00.5Z",
    "2025-01-01T00:00:00.123456Z",
    "2025-01-01 00:00:00",
    "2025-01-01T00:00:00+02:00",
    "2025-01-01T0a:00:00.000Z",
    "2025/01/01T00:00:00.000Z",
    "0001-01-01T00:00:00.000Z",  # outside what nanoseconds hold
    "2300-01-01T00:00:00.000Z",
    "not-a-timestamp",
    "",
    None,
]
NUMBERS = [
    "1.5",
    "-0",
    "0",
    "12",
    "1e3",
    "1E-2",
    ".5",
    "5.",
    "+5",
    "1.2.3",
    "--1",
    "e5",
    "abc",
    "inf",
    "NaN",
    " 7 ",
    "",
    None,
    "1e400",
    "0.1",
    # Bytes next to the digits and the other number bytes, a separator, non-ASCII digits.
    "1/2",
    "3:4",
    "1,5",
    "1_000",
    "\uff11",
    "\u0663",
    "1.5\x00",
]


def _pandas_instants(texts: list) -> np.ndarray:
    parsed = pd.to_datetime(
        pd.Series(texts, dtype="string"), errors="coerce", utc=True, format="ISO8601"
    )
    lo, hi = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
    parsed = parsed.where((parsed >= lo) & (parsed <= hi))
    return parsed.dt.tz_convert(None).dt.as_unit("ns").to_numpy().view(np.int64)


@pytest.mark.parametrize("repeat", [1, 50])
def test_instants_match_pandas(repeat):
    texts = INSTANTS * repeat
    actual = parse_instants(pa.array(texts, type=pa.string()))
    assert actual.tolist() == _pandas_instants(texts).tolist()
    assert actual[0] == pd.Timestamp("2025-01-01", tz="UTC").value
    assert actual[3] == NAT and actual[7] == pd.Timestamp("1969-12-31T23:59:59.123Z").value


def test_instants_of_a_clean_column_take_the_fast_path():
    texts = ["2025-03-01T01:02:03.004Z", "2024-02-29T23:59:59.999Z"]
    actual = parse_instants(pa.array(texts))
    assert actual.tolist() == [pd.Timestamp(t).value for t in texts]


def test_numbers_match_pandas():
    actual = parse_float(pa.array(NUMBERS, type=pa.string()))
    expected = pd.to_numeric(pd.Series(NUMBERS, dtype="string"), errors="coerce")
    expected = expected.to_numpy(dtype=float, na_value=np.nan)
    np.testing.assert_array_equal(actual, expected)
    assert actual[0] == 1.5 and actual[4] == 1000.0 and np.isnan(actual[9])


def test_instants_in_bursts_match_pandas():
    # Rows in runs sharing date, hour and minute (parsed once per run), broken rows inside runs
    # and at their heads: every row still gets the value pandas gives it.
    rng = np.random.default_rng(4)
    prefixes = ["2025-01-01T00:01", "2025-01-01T00:02", "2024-02-29T23:59", "2025-02-29T10:00"]
    texts = []
    for prefix in np.repeat(prefixes, 40):
        second, millis = rng.integers(0, 62), rng.integers(0, 1000)
        texts.append(f"{prefix}:{second:02d}.{millis:03d}Z")  # seconds 60, 61: no instant
    for at, broken in [(0, "2025-01-01T00:01:0x.000Z"), (41, None), (80, "not-a-timestamp")]:
        texts[at] = broken
    actual = parse_instants(pa.array(texts, type=pa.string()))
    assert actual.tolist() == _pandas_instants(texts).tolist()
    assert (actual[120:160] == NAT).all()  # 2025-02-29 does not exist
    assert (actual[1:40] != NAT).sum() == sum(int(t[17:19]) < 60 for t in texts[1:40])
