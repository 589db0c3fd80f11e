"""Validate one batch of raw history text: drop and count bad rows, keep compact typed columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .fingerprint import (
    BatchFingerprints,
    SeenFingerprints,
    by_day,
    dictionary_fingerprints,
    number_fingerprints,
    row_fingerprints,
)
from .parsing import NAT, is_blank, parse_float, parse_instants

DROP_REASONS = (
    "duplicate_row",
    "missing_pool",
    "unparsable_timestamp",
    "missing_apy",
    "non_numeric_apy",
    "negative_apy",
    "absurd_apy",
    "invalid_tvl",
)
ATTRIBUTES = ("chain", "project", "symbol")
DICTIONARY_COLUMNS = ("pool", *ATTRIBUTES)


@dataclass
class Codes:
    """One growing dictionary: text -> dense int code, in order of first appearance."""

    names: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def encode(self, texts: list[str | None]) -> np.ndarray:
        """Codes of the texts (None -> -1), adding unseen texts."""
        out = np.empty(len(texts), dtype=np.int32)
        for i, text in enumerate(texts):
            if text is None:
                out[i] = -1
                continue
            code = self.index.get(text)
            if code is None:
                code = self.index[text] = len(self.names)
                self.names.append(text)
            out[i] = code
        return out


@dataclass
class StreamState:
    """What validation remembers across batches: fingerprints, dictionaries, row count."""

    required: list[str]
    optional: list[str]
    apy_max: float
    # [first, last) plausible snapshot instants, epoch nanoseconds UTC.
    time_window: tuple[int, int]
    seen: SeenFingerprints = field(default_factory=SeenFingerprints)
    codes: dict[str, Codes] = field(
        default_factory=lambda: {c: Codes() for c in DICTIONARY_COLUMNS}
    )
    rows: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))


def _dictionary_codes(encoded: pa.DictionaryArray, codes: Codes, strip: bool) -> np.ndarray:
    """Global codes for a batch-local dictionary column (null and, for pools, blank -> -1)."""
    texts = encoded.dictionary.to_pylist()
    if strip:
        texts = [
            None if t is None or t.strip().lower() in ("", "nan") else t.strip() for t in texts
        ]
    local = codes.encode(texts)
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    return local[indices]


@dataclass
class ParsedBatch:
    """One batch parsed, before anything that depends on the batches before it."""

    n: int
    encoded: dict[str, pa.DictionaryArray]
    fingerprints: BatchFingerprints
    ts: np.ndarray
    apy: np.ndarray
    apy_blank: np.ndarray
    tvl: np.ndarray
    optional: dict[str, np.ndarray]


def _as_read(name: str, values: pa.Array) -> pa.Array:
    """A raw column as parsing takes it: text, float64 numbers, or dictionary-encoded text."""
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or kind == pa.float64():
        return values
    if pa.types.is_dictionary(kind) and name in DICTIONARY_COLUMNS:
        return values
    return pc.cast(values, pa.string())


def parse_batch(
    batch: pa.RecordBatch, required: list[str], optional: list[str], window: tuple[int, int]
) -> ParsedBatch:
    """Parse one batch of raw text: numbers, instants, dictionaries and row fingerprints.

    Depends on nothing but the batch, so batches can be parsed concurrently (Arrow and NumPy
    release the GIL); `resolve_batch` then applies them to the stream's state in order.
    """
    # Text stays text, float64 (a number column the reader could parse) stays numbers, and
    # dictionary-encoded text stays so in the dictionary columns; anything else is judged as
    # its text.
    columns = {name: _as_read(name, batch.column(name)) for name in required + optional}
    if columns["apy"].type == pa.float64():
        raise ValueError("apy must be read as text: blank and non-numeric APYs count apart")
    n = batch.num_rows
    ts = parse_instants(columns["timestamp"])
    # Outside the window a parsed instant is as unusable as an unparsable one.
    ts[(ts < window[0]) | (ts >= window[1])] = NAT
    apy = parse_float(columns["apy"])
    tvl = parse_float(columns["tvlUsd"])
    extra = {name: parse_float(columns[name]) for name in optional}
    numbers = {"timestamp": ts, "apy": apy, "tvlUsd": tvl, **extra}
    encoded, hashes = {}, []
    for name in required + optional:
        if name in DICTIONARY_COLUMNS:
            encoded[name], h = dictionary_fingerprints(columns[name])
        else:
            h = number_fingerprints(numbers[name])
        hashes.append(h)
    apy_blank = np.zeros(n, dtype=bool)
    nan_apy = np.isnan(apy)
    if nan_apy.any():
        # Only a text that did not parse can be blank: test just those.
        rows = np.flatnonzero(nan_apy)
        apy_blank[rows] = is_blank(columns["apy"].take(rows))
    # Rows equal as read have the same instant: their day is part of the fingerprint.
    fingerprints = BatchFingerprints.of(by_day(row_fingerprints(hashes), ts))
    return ParsedBatch(n, encoded, fingerprints, ts, apy, apy_blank, tvl, extra)


@dataclass(frozen=True)
class CleanRows:
    """A batch's clean rows by position; columns are taken only for the rows asked for.

    So a node that splits them (e.g. by APY) takes each column once, not twice.
    """

    parsed: ParsedBatch
    # Per row of the batch: pool and attribute codes (-1 missing).
    codes: dict[str, np.ndarray]
    # Positions of the clean rows in the batch, and the batch's first row in the stream.
    positions: np.ndarray
    first_row: int

    @cached_property
    def apy(self) -> np.ndarray:
        """The clean rows' APY (gathered once)."""
        return self.parsed.apy[self.positions]

    def take(self, which: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Columns of the clean rows (where `which`, a mask over them, is true; all if None).

        pool, chain, project, symbol (int32 codes, -1 missing), ts (int64 ns UTC), seq (int64
        row number in the stream), apy, tvlUsd and the optional columns (float64).
        """
        at = self.positions if which is None else self.positions[which]
        rows = {name: codes[at] for name, codes in self.codes.items()}
        rows["ts"] = self.parsed.ts[at]
        rows["seq"] = self.first_row + at.astype(np.int64)
        rows["apy"] = self.parsed.apy[at]
        rows["tvlUsd"] = self.parsed.tvl[at]
        for name, values in self.parsed.optional.items():
            values = values[at]
            # A negative or non-finite component is unknown, not a reason to lose the row.
            with np.errstate(invalid="ignore"):
                rows[name] = np.where(np.isfinite(values) & (values >= 0), values, np.nan)
        return rows


def resolve_batch(parsed: ParsedBatch, state: StreamState) -> CleanRows:
    """Drop and count one parsed batch's bad rows (first reason only); return its clean rows."""
    duplicate = ~state.seen.first_occurrences(parsed.fingerprints)
    pool = _dictionary_codes(parsed.encoded["pool"], state.codes["pool"], strip=True)
    apy, tvl = parsed.apy, parsed.tvl
    with np.errstate(invalid="ignore"):
        reasons = {
            "duplicate_row": duplicate,
            "missing_pool": pool < 0,
            "unparsable_timestamp": parsed.ts == NAT,
            "missing_apy": parsed.apy_blank,
            "non_numeric_apy": ~parsed.apy_blank & ~np.isfinite(apy),
            "negative_apy": apy < 0,
            "absurd_apy": apy > state.apy_max,
            "invalid_tvl": ~np.isfinite(tvl) | (tvl < 0),
        }
    drop = np.zeros(parsed.n, dtype=bool)
    for reason, mask in reasons.items():
        new = mask & ~drop
        state.dropped[reason] += int(new.sum())
        drop |= new
    codes = {"pool": pool}
    for a in ATTRIBUTES:
        codes[a] = _dictionary_codes(parsed.encoded[a], state.codes[a], strip=False)
    clean = CleanRows(parsed, codes, np.flatnonzero(~drop), state.rows)
    state.rows += parsed.n
    return clean
