"""64-bit fingerprints of history rows, and the set of fingerprints seen so far in a stream.

Exact duplicates are rows equal in every column as read: the same text in the pool, chain,
project and symbol columns, the same instant, the same numbers (NaN equal to NaN, -0 to 0, as in
pandas' `duplicated`). A row's fingerprint mixes each column's value (text: bytes and length, null
distinct from every text; numbers: their float64 bits), so equal rows always collide and distinct
rows collide with probability about 2**-64 per pair (about 1e-5 for any pair among 20M rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .parsing import text_buffers

_MIX = np.uint64(0xFF51AFD7ED558CCD)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_NULL = np.uint64(0x6A09E667F3BCC909)
# Little-endian masks keeping the first 0..8 bytes of a 64-bit word.
_BYTE_MASKS = np.array([(1 << (8 * i)) - 1 for i in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


def _mix(h: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser: spreads every input bit over the output, in place."""
    h ^= h >> np.uint64(33)
    h *= _MIX
    h ^= h >> np.uint64(33)
    return h


def text_fingerprints(values: pa.Array) -> np.ndarray:
    """One uint64 per string: its bytes zero-padded to 8-byte words, its length, nulls apart."""
    raw, offsets = text_buffers(values)
    lengths = np.diff(offsets)
    width = max(8, -(-int(lengths.max(initial=0)) // 8) * 8)
    padded = np.zeros(int(offsets[-1]) + width, dtype=np.uint8)
    padded[: int(offsets[-1] - offsets[0])] = raw[offsets[0] : offsets[-1]]
    # One fixed-width window per string (a strided gather, no per-byte indexing), then the
    # bytes past each string's end are zeroed: with the length mixed in, this is injective.
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)[offsets[:-1] - offsets[0]]
    words = np.ascontiguousarray(windows).view(np.uint64)
    h = lengths.astype(np.uint64) * _GOLDEN
    for k in range(words.shape[1]):
        # A window runs on into the next string: keep only this string's bytes of word k, and
        # mix only its own words, so a fingerprint never depends on the batch's widest text.
        own = np.clip(lengths - 8 * k, 0, 8)
        word = words[:, k] & _BYTE_MASKS[own]
        h = np.where(own > 0, _mix(h ^ word), h)
    if values.null_count:
        h[values.is_null().to_numpy(zero_copy_only=False)] = _NULL
    return h


def number_fingerprints(values: np.ndarray) -> np.ndarray:
    """One uint64 per float64 or int64 value: its bits, with every NaN alike and -0.0 as 0.0."""
    if values.dtype.kind == "f":
        values = np.where(np.isnan(values), np.nan, values + 0.0)
    return values.view(np.uint64)


def row_fingerprints(columns: list[np.ndarray]) -> np.ndarray:
    """Combine per-column fingerprints (in a fixed column order) into one per row."""
    h = np.full(len(columns[0]), _GOLDEN, dtype=np.uint64)
    for i, column in enumerate(columns):
        h ^= column + np.uint64((i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        _mix(h)
    return h


def dictionary_fingerprints(values: pa.Array) -> tuple[pa.DictionaryArray, np.ndarray]:
    """Dictionary-encode a low-cardinality column; fingerprint only its distinct values."""
    encoded = pc.dictionary_encode(values, null_encoding="encode")
    return encoded, text_fingerprints(encoded.dictionary)[encoded.indices.to_numpy()]


@dataclass(frozen=True)
class BatchFingerprints:
    """One batch's row fingerprints, its distinct values sorted, and its repeated rows."""

    values: np.ndarray
    distinct: np.ndarray
    # Rows whose fingerprint an earlier row of the same batch has.
    repeats: np.ndarray

    @classmethod
    def of(cls, fingerprints: np.ndarray) -> BatchFingerprints:
        """Sort a batch's fingerprints; find the rows that repeat an earlier one."""
        ordered = np.sort(fingerprints)  # a value sort: several times faster than an argsort
        repeated = ordered[1:] == ordered[:-1]
        distinct = ordered[np.r_[True, ~repeated]] if len(ordered) else ordered
        repeats = np.zeros(0, dtype=np.int64)
        if repeated.any():  # duplicates are rare: look at just the rows holding one
            rows = np.flatnonzero(_holds(fingerprints, ordered[1:][repeated]))
            repeats = rows[pd.Series(fingerprints[rows]).duplicated(keep="first").to_numpy()]
        return cls(fingerprints, distinct, repeats)


def _holds(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    """True where a value is one of `among` (hashing: `among` is small, `values` large)."""
    return pd.Series(values).isin(np.unique(among)).to_numpy()


class SeenFingerprints:
    """The fingerprints of every row seen so far, as sorted runs merged like a log-structured tree.

    Memory is 8 bytes per distinct row; a lookup is a binary search per run (O(log n) runs).
    """

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def first_occurrences(self, batch: BatchFingerprints) -> np.ndarray:
        """True where a row is the first with its fingerprint, in this batch and all before."""
        needles = batch.distinct
        seen = np.zeros(len(needles), dtype=bool)
        for run in self._runs:
            # Sorted needles make each binary search start near the last one: cache-friendly.
            pos = np.minimum(np.searchsorted(run, needles), len(run) - 1)
            seen |= run[pos] == needles
        first = np.ones(len(batch.values), dtype=bool)
        first[batch.repeats] = False
        if seen.any():  # rare too: rows repeating a row of an earlier batch
            first[_holds(batch.values, needles[seen])] = False
        self._add(needles[~seen])  # sorted and distinct already
        return first

    def _add(self, run: np.ndarray) -> None:
        if not len(run):
            return
        self._runs.append(run)
        # Merge while the newer run is at least half the older: O(log n) runs of doubling size.
        # Timsort merges the two sorted runs in linear time.
        while len(self._runs) > 1 and 2 * len(self._runs[-1]) >= len(self._runs[-2]):
            newer = self._runs.pop()
            self._runs[-1] = np.sort(np.concatenate([self._runs[-1], newer]), kind="stable")
