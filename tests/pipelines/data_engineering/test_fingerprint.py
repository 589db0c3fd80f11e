"""Exact-duplicate detection across a stream of batches."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from yield_runway.pipelines.data_engineering.fingerprint import (
    BatchFingerprints,
    SeenFingerprints,
    by_day,
    dictionary_fingerprints,
    number_fingerprints,
    text_fingerprints,
)


def _first(seen: SeenFingerprints, values: list[int]) -> list[bool]:
    batch = BatchFingerprints.of(np.array(values, dtype=np.uint64))
    return seen.first_occurrences(batch).tolist()


def test_fingerprints_by_day_keep_the_day_in_their_top_bits():
    day = 86_400 * 10**9
    nat = np.iinfo(np.int64).min
    instants = np.array([0, day - 1, day, 64 * day + 5, -1, nat, nat], dtype=np.int64)
    hashes = np.array([2**64 - 1, 2**64 - 1, 2**64 - 1, 12345, 12345, 7, 7], dtype=np.uint64)
    out = by_day(hashes, instants)
    assert (out >> np.uint64(58)).tolist() == [0, 0, 1, 0, 63, 0, 0]  # day mod 64; -1 ns: day -1
    assert ((out << np.uint64(6)) >> np.uint64(6)).tolist() == (hashes >> np.uint64(6)).tolist()
    assert out[5] == out[6] and out[0] == out[1] != out[2]  # same day and hash: same fingerprint


def test_first_occurrences_within_and_across_batches():
    seen = SeenFingerprints()
    assert _first(seen, [5, 3, 5, 9, 3, 5]) == [True, True, False, True, False, False]
    assert _first(seen, [7, 9, 7, 1]) == [True, False, False, True]
    # Enough batches that the sorted runs merge; every value seen before stays seen.
    for start in range(10, 200, 10):
        assert _first(seen, list(range(start, start + 10))) == [True] * 10
    assert _first(seen, [1, 3, 5, 7, 9, 15, 195, 500]) == [False] * 7 + [True]


def test_an_empty_batch_changes_nothing():
    seen = SeenFingerprints()
    assert _first(seen, []) == []
    assert _first(seen, [4, 4]) == [True, False]


def test_numbers_fingerprint_as_pandas_compares_them():
    values = np.array([0.0, -0.0, np.nan, -np.nan, 1.5, 1.5000000000000002])
    h = number_fingerprints(values)
    assert h[0] == h[1] and h[2] == h[3]
    assert len(set(h.tolist())) == 4


def test_texts_fingerprint_by_bytes_and_nulls_apart():
    h = text_fingerprints(pa.array(["abc", "abc", "abd", "", None, "abcdefghij", "abcdefghik"]))
    assert h[0] == h[1]
    assert len(set(h.tolist())) == 6


def test_many_random_fingerprints_agree_with_a_set():
    # Enough fingerprints to grow the Bloom filter and fill every bucket; repeats across batches.
    rng = np.random.default_rng(1)
    pool = rng.integers(0, 2**63, 400_000, dtype=np.int64).view(np.uint64) * np.uint64(2) + 1
    seen, oracle = SeenFingerprints(), set()
    for _ in range(8):
        values = rng.choice(pool, 80_000)
        expected = []
        for v in values.tolist():
            expected.append(v not in oracle)
            oracle.add(v)
        got = seen.first_occurrences(BatchFingerprints.of(values))
        np.testing.assert_array_equal(got, np.array(expected))
    assert seen._filter.log2_words > 16  # the filter grew


def test_a_dictionary_column_encodes_like_its_text():
    texts = pa.array(["b", None, "a", "b", None, "c"])
    from_text, h_text = dictionary_fingerprints(texts)
    from_codes, h_codes = dictionary_fingerprints(texts.dictionary_encode())
    np.testing.assert_array_equal(h_text, h_codes)
    assert from_codes.indices.null_count == 0  # nulls are an entry of the dictionary
    assert from_codes.dictionary.take(from_codes.indices).to_pylist() == texts.to_pylist()
    assert from_text.dictionary.take(from_text.indices).to_pylist() == texts.to_pylist()
