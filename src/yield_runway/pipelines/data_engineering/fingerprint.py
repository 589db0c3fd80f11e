"""64-bit fingerprints of history rows, and the set of fingerprints seen so far in a stream.

Exact duplicates are rows equal in every column as read: the same text in the pool, chain,
project and symbol columns, the same instant, the same numbers (NaN equal to NaN, -0 to 0, as in
pandas' `duplicated`). A row's fingerprint mixes each column's value (text: bytes and length, null
distinct from every text; numbers: their float64 bits), so equal rows always collide.

Its top 6 bits are its instant's UTC day mod 64, the rest the mixed bits (see `by_day`): equal
rows have the same instant, so the same day. Distinct rows on days in different 64ths never
collide, those in the same 64th with probability 2**-58: for rows spread over 64 days or more,
about 1e-5 for any pair among 20M rows (as 64 bits of hash), at most 7e-4 for one day's 20M.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .parsing import text_buffers
from .partials import DAY_NS

# The top bits of a fingerprint: its day mod 2**_BUCKET_BITS (see `by_day`).
_BUCKET_BITS = 6
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


def by_day(fingerprints: np.ndarray, instants: np.ndarray) -> np.ndarray:
    """Fingerprints with their top bits replaced by their rows' UTC day (int64 ns) mod 64.

    A batch of a file in time order then holds the fingerprints of a few days: its lookups and
    additions touch a few 64ths of the seen fingerprints (their filter words and their runs are
    ordered by these bits), which stay in cache. Without it, every 64-bit word of a filter far
    larger than the cache is as likely: a cache miss per fingerprint, a third of the cost.
    """
    day = (instants // DAY_NS).astype(np.uint64) & np.uint64((1 << _BUCKET_BITS) - 1)
    return (fingerprints >> np.uint64(_BUCKET_BITS)) | (day << np.uint64(64 - _BUCKET_BITS))


def dictionary_fingerprints(values: pa.Array) -> tuple[pa.DictionaryArray, np.ndarray]:
    """Dictionary-encode a low-cardinality column; fingerprint only its distinct values.

    The result holds nulls as a dictionary entry of their own, whether the column came as text
    or already dictionary-encoded (by the CSV reader, with nulls in its indices).
    """
    if not pa.types.is_dictionary(values.type):
        encoded = pc.dictionary_encode(values, null_encoding="encode")
    elif values.null_count:
        dictionary = pa.concat_arrays([values.dictionary, pa.nulls(1, values.dictionary.type)])
        indices = pc.fill_null(values.indices, len(values.dictionary))
        encoded = pa.DictionaryArray.from_arrays(indices, dictionary)
    else:
        encoded = values
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    return encoded, text_fingerprints(encoded.dictionary)[indices]


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


# The filter's word is a fingerprint's top bits, its two bits the low 12: up to 2**32 words
# (32 GB, for about 17 billion rows) the two never overlap.
_MAX_LOG2_WORDS = 32


class _WordFilter:
    """A blocked Bloom filter over fingerprints: each sets two bits of one 64-bit word.

    The word is picked by a fingerprint's top bits, so sorted fingerprints sweep the words in
    order (cache-friendly); its low 12 bits pick the two bits. No false negatives.
    """

    def __init__(self, log2_words: int) -> None:
        self.log2_words = log2_words
        self._words = np.zeros(1 << log2_words, dtype=np.uint64)
        self._shift = np.uint64(64 - log2_words)

    @property
    def capacity(self) -> int:
        """Fingerprints it holds at 24 bits or more each (a false positive rate under 1%)."""
        return _capacity(self.log2_words)

    def _probe(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        six = np.uint64(63)
        bits = (np.uint64(1) << (keys & six)) | (np.uint64(1) << ((keys >> np.uint64(6)) & six))
        return (keys >> self._shift).astype(np.intp), bits

    def might_contain(self, keys: np.ndarray) -> np.ndarray:
        """False where a fingerprint was certainly never added."""
        word, bits = self._probe(keys)
        return (self._words[word] & bits) == bits

    def add(self, keys: np.ndarray) -> None:
        """Add sorted fingerprints (sorted, so that keys sharing a word are adjacent)."""
        if not len(keys):
            return
        word, bits = self._probe(keys)
        starts = np.flatnonzero(np.r_[True, word[1:] != word[:-1]])
        self._words[word[starts]] |= np.bitwise_or.reduceat(bits, starts)


# Fingerprints are kept in 64 buckets by their top 6 bits (their day mod 64): a bucket's runs
# stay small enough to merge in cache (several times faster than merging one huge sorted run).
_BUCKET_BOUNDS = np.arange(1, 1 << _BUCKET_BITS, dtype=np.uint64) << np.uint64(64 - _BUCKET_BITS)


def _bucket_slices(keys: np.ndarray) -> list[tuple[int, int, int]]:
    """(bucket, start, stop) of each bucket's keys in sorted `keys`, for non-empty buckets."""
    bounds = np.concatenate([[0], np.searchsorted(keys, _BUCKET_BOUNDS), [len(keys)]])
    pairs = enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
    return [(b, lo, hi) for b, (lo, hi) in pairs if hi > lo]


def _capacity(log2_words: int) -> int:
    """Fingerprints a filter of 2**log2_words words holds at 24 bits or more each."""
    return (64 << log2_words) // 24


def _log2_words(capacity: int) -> int:
    """The filter size (log2 of its words) that holds `capacity` fingerprints, within bounds."""
    log2_words = 16
    while _capacity(log2_words) < capacity and log2_words < _MAX_LOG2_WORDS:
        log2_words += 1
    return log2_words


class SeenFingerprints:
    """The fingerprints of every row seen so far, in sorted runs merged like a log-structured tree.

    Memory is about 11 bytes per distinct row. A Bloom filter answers most lookups ("never
    seen"); only the rest (its false positives and the real repeats, a few percent) are looked
    up exactly, by binary search in the runs of their bucket (O(log n) runs each).
    """

    def __init__(self, expected: int | None = None) -> None:
        """`expected`: about how many distinct rows will come, if known (sizes the filter)."""
        self._buckets: list[list[np.ndarray]] = [[] for _ in range(1 << _BUCKET_BITS)]
        self._count = 0
        self._filter = _WordFilter(_log2_words(expected or 0))

    def first_occurrences(self, batch: BatchFingerprints) -> np.ndarray:
        """True where a row is the first with its fingerprint, in this batch and all before."""
        needles = batch.distinct
        maybe = np.flatnonzero(self._filter.might_contain(needles))
        seen = np.zeros(len(needles), dtype=bool)
        if len(maybe):
            seen[maybe] = self._contains(needles[maybe])
        first = np.ones(len(batch.values), dtype=bool)
        first[batch.repeats] = False
        if seen.any():  # rare: rows repeating a row of an earlier batch
            first[_holds(batch.values, needles[seen])] = False
        self._add(needles[~seen])  # sorted and distinct already
        return first

    def _contains(self, keys: np.ndarray) -> np.ndarray:
        """Exact membership of sorted fingerprints."""
        found = np.zeros(len(keys), dtype=bool)
        for bucket, lo, hi in _bucket_slices(keys):
            part = keys[lo:hi]
            for run in self._buckets[bucket]:
                pos = np.minimum(np.searchsorted(run, part), len(run) - 1)
                found[lo:hi] |= run[pos] == part
        return found

    def _add(self, keys: np.ndarray) -> None:
        """Add sorted fingerprints, none seen before."""
        if not len(keys):
            return
        self._count += len(keys)
        if self._count > self._filter.capacity and self._filter.log2_words < _MAX_LOG2_WORDS:
            self._grow()
        self._filter.add(keys)
        for bucket, lo, hi in _bucket_slices(keys):
            runs = self._buckets[bucket]
            runs.append(keys[lo:hi])
            # Merge while the newer run is at least half the older: O(log n) runs of doubling
            # size. Timsort merges two sorted runs in linear time.
            while len(runs) > 1 and 2 * len(runs[-1]) >= len(runs[-2]):
                newer = runs.pop()
                runs[-1] = np.sort(np.concatenate([runs[-1], newer]), kind="stable")

    def _grow(self) -> None:
        """A filter for 3 times the fingerprints, refilled from the runs (which hold them all)."""
        self._filter = _WordFilter(_log2_words(3 * self._count))
        for runs in self._buckets:
            for run in runs:
                self._filter.add(run)
