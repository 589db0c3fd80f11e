"""Validate one batch of raw history text: drop and count bad rows, keep compact typed columns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .fingerprint import SeenFingerprints, dictionary_fingerprints, row_fingerprints
from .fingerprint import text_fingerprints as _text
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


def validate_batch(batch: pa.RecordBatch, state: StreamState) -> pd.DataFrame:
    """Drop and count one batch's bad rows (first reason only); return its clean rows, typed.

    Columns: pool, chain, project, symbol (int32 codes, -1 missing), ts (int64 ns UTC),
    seq (int64 row number in the stream), apy, tvlUsd and the optional columns (float64).
    """
    columns = {name: batch.column(name) for name in state.required + state.optional}
    columns = {
        n: c
        if pa.types.is_string(c.type) or pa.types.is_large_string(c.type)
        else pc.cast(c, pa.string())
        for n, c in columns.items()
    }
    n = batch.num_rows
    encoded, hashes = {}, []
    for name in state.required + state.optional:
        if name in DICTIONARY_COLUMNS:
            encoded[name], h = dictionary_fingerprints(columns[name])
        else:
            h = _text(columns[name])
        hashes.append(h)
    duplicate = ~state.seen.first_occurrences(row_fingerprints(hashes))

    pool = _dictionary_codes(encoded["pool"], state.codes["pool"], strip=True)
    ts = parse_instants(columns["timestamp"])
    # Outside the window a parsed instant is as unusable as an unparsable one.
    ts[(ts < state.time_window[0]) | (ts >= state.time_window[1])] = NAT
    apy = parse_float(columns["apy"])
    tvl = parse_float(columns["tvlUsd"])
    nan_apy = np.isnan(apy)
    apy_blank = np.zeros(n, dtype=bool)
    if nan_apy.any():
        # Only a text that did not parse can be blank: test just those.
        rows = np.flatnonzero(nan_apy)
        apy_blank[rows] = is_blank(columns["apy"].take(rows))
    with np.errstate(invalid="ignore"):
        reasons = {
            "duplicate_row": duplicate,
            "missing_pool": pool < 0,
            "unparsable_timestamp": ts == NAT,
            "missing_apy": apy_blank,
            "non_numeric_apy": ~apy_blank & ~np.isfinite(apy),
            "negative_apy": apy < 0,
            "absurd_apy": apy > state.apy_max,
            "invalid_tvl": ~np.isfinite(tvl) | (tvl < 0),
        }
    drop = np.zeros(n, dtype=bool)
    for reason, mask in reasons.items():
        new = mask & ~drop
        state.dropped[reason] += int(new.sum())
        drop |= new
    keep = np.flatnonzero(~drop)

    clean = {
        "pool": pool[keep],
        **{a: _dictionary_codes(encoded[a], state.codes[a], strip=False)[keep] for a in ATTRIBUTES},
        "ts": ts[keep],
        "seq": state.rows + keep.astype(np.int64),
        "apy": apy[keep],
        "tvlUsd": tvl[keep],
    }
    for name in state.optional:
        values = parse_float(columns[name].take(keep))
        # A negative or non-finite component is unknown, not a reason to lose the row.
        with np.errstate(invalid="ignore"):
            clean[name] = np.where(np.isfinite(values) & (values >= 0), values, np.nan)
    state.rows += n
    return pd.DataFrame(clean)
