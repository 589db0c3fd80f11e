"""Partial daily aggregates: per key, the winner of each column group by (time, file order)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yield_runway.pipelines.data_engineering import partials
from yield_runway.pipelines.data_engineering.parsing import NAT


@pytest.mark.parametrize("spread", [1, 1 << 20])
def test_dense_codes_agree_with_a_sort(spread):
    rng = np.random.default_rng(0)
    # spread 1: a compact box of pools x days (the bitmap); 2**20: keys spread thin (a sort).
    pool = rng.integers(0, 50, 500) * spread
    day = rng.integers(0, 4, 500) + partials.DAY_OFFSET
    keys = (pool << partials.DAY_BITS) | day
    codes, distinct = partials._dense_codes(keys)
    expected, expected_codes = np.unique(keys, return_inverse=True)
    np.testing.assert_array_equal(distinct, expected)
    np.testing.assert_array_equal(codes, expected_codes)


@pytest.mark.parametrize("reversed_rows", [False, True])
def test_last_takes_the_latest_valid_row_ties_to_the_later(reversed_rows):
    frame = pd.DataFrame(
        {
            "key": [7, 7, 7, 3, 3],
            "ts_g": [5, 9, 9, 1, NAT],  # key 7: two rows at the latest time; key 3: one valid
            "seq_g": [0, 1, 2, 3, 4],
            "v": [10.0, 20.0, 30.0, 40.0, 50.0],
        }
    )
    if reversed_rows:  # the winner depends on (ts, seq), not on where a row is in the frame
        frame = frame.iloc[::-1].reset_index(drop=True)
    out = partials._last(frame, {"g": ["v"]})
    assert out["key"].tolist() == [3, 7]
    assert out["v"].tolist() == [40.0, 30.0]
    assert out["seq_g"].tolist() == [3, 2]


def test_last_leaves_a_key_without_valid_rows_empty():
    frame = pd.DataFrame({"key": [1, 2], "ts_g": [NAT, 4], "seq_g": [0, 1], "v": [1.0, 2.0]})
    out = partials._last(frame, {"g": ["v"]})
    assert out["ts_g"].tolist() == [NAT, 4]
    assert np.isnan(out["v"].iloc[0]) and out["v"].iloc[1] == 2.0


def test_last_of_rows_in_time_and_file_order_is_each_keys_last_row():
    frame = pd.DataFrame(
        {
            "key": [2, 1, 2, 1, 2],
            "ts_g": [1, 1, 1, 2, 2],  # in order of (ts, seq): the last row per key wins
            "seq_g": [10, 11, 12, 13, 14],
            "v": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    out = partials._last(frame, {"g": ["v"]})
    assert out["key"].tolist() == [1, 2]
    assert out["v"].tolist() == [4.0, 5.0]
    # Out of order (a later seq first), the same rows win.
    shuffled = frame.iloc[[4, 0, 3, 2, 1]].reset_index(drop=True)
    assert partials._last(shuffled, {"g": ["v"]})["v"].tolist() == [4.0, 5.0]


@pytest.mark.parametrize("parts", [1, 2, 5])
def test_combining_partials_is_the_last_of_all_their_rows(parts):
    rng = np.random.default_rng(parts)
    groups = {"g": ["v"], "h": ["w"]}
    batches = []
    for _ in range(parts):
        n = int(rng.integers(0, 60))
        ts = rng.integers(0, 5, n)  # ties in time: the later seq wins
        batches.append(
            pd.DataFrame(
                {
                    "key": rng.integers(0, 30, n),
                    "ts_g": np.where(rng.random(n) < 0.2, NAT, ts),
                    "seq_g": rng.permutation(1000)[:n],
                    "ts_h": np.where(rng.random(n) < 0.5, NAT, ts),
                    "v": rng.random(n),
                    "w": rng.random(n),
                }
            ).assign(seq_h=lambda f: f["seq_g"])
        )
    # Seqs are distinct across batches, as row numbers in a stream are; an earlier partial may
    # hold later rows (the winner depends on (ts, seq), not on the order of the partials).
    for batch, offset in zip(batches, rng.permutation(parts) * 1000, strict=True):
        batch[["seq_g", "seq_h"]] += offset
    expected = partials._last(pd.concat(batches, ignore_index=True), groups)
    combined = partials._combine_last([partials._last(b, groups) for b in batches], groups)
    pd.testing.assert_frame_equal(combined, expected[combined.columns])
    assert combined["key"].is_monotonic_increasing
