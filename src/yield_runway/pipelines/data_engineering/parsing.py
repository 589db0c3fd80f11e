"""Raw CSV text -> numbers and UTC timestamps, with exactly the semantics of pandas' parsers.

Arrow's casts are an order of magnitude faster than `pd.to_numeric` / `pd.to_datetime`, but they
reject a whole column for one bad value and accept a different set of spellings. So Arrow parses
the texts in a canonical form (where both agree), and pandas parses only the rest, usually none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Plain decimals (optional exponent), and ISO-8601 UTC instants with a Z: what DefiLlama writes.
CANONICAL_NUMBER = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"
CANONICAL_INSTANT = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z$"
)
NAT = np.iinfo(np.int64).min
# Instants int64 nanoseconds can hold (about 1677..2262); outside them a product would wrap.
MIN_NS_SECONDS, MAX_NS_SECONDS = pd.Timestamp.min.timestamp(), pd.Timestamp.max.timestamp()


def is_blank(values: pa.Array) -> np.ndarray:
    """True where a raw text value is null, empty or the text 'nan' (case and spaces ignored)."""
    text = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    blank = pc.or_kleene(pc.is_null(values), pc.is_in(text, pa.array(["", "nan"])))
    return blank.to_numpy(zero_copy_only=False)


def _split(values: pa.Array, pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of non-null values that match `pattern`, and of the other non-null ones."""
    valid = pc.is_valid(values)
    canonical = pc.and_(valid, pc.match_substring_regex(values, pattern))
    other = pc.and_(valid, pc.invert(canonical))
    return (
        np.flatnonzero(canonical.to_numpy(zero_copy_only=False)),
        np.flatnonzero(other.to_numpy(zero_copy_only=False)),
    )


def parse_float(values: pa.Array) -> np.ndarray:
    """Like `pd.to_numeric(errors="coerce")` as float64: anything unparsable is NaN."""
    try:
        return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    out = np.full(len(values), np.nan)
    canonical, other = _split(values, CANONICAL_NUMBER)
    out[canonical] = pc.cast(values.take(canonical), pa.float64()).to_numpy(zero_copy_only=False)
    if len(other):
        text = pd.Series(values.take(other).to_pylist(), dtype="string")
        out[other] = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return out


def _pandas_instants(values: pa.Array) -> np.ndarray:
    """ISO-8601 texts to epoch nanoseconds (UTC) with pandas; unparsable -> NAT."""
    text = pd.Series(values.to_pylist(), dtype="string")
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    # pandas keeps far dates in a coarser unit; nanoseconds cannot hold them: NaT.
    lo, hi = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
    parsed = parsed.where((parsed >= lo) & (parsed <= hi))
    naive = parsed.dt.tz_convert(None).dt.as_unit("ns")
    return naive.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _instants_checked(texts: pa.Array) -> np.ndarray:
    """Canonical instants via strptime, kept only where formatting them back gives the text.

    strptime rolls impossible dates over (02-30 -> 03-02); the round trip catches exactly those.
    """
    head = pc.utf8_slice_codeunits(texts, 0, 19)
    seconds = pc.strptime(head, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
    same = pc.equal(pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%S"), head)
    ok = pc.fill_null(same, False).to_numpy(zero_copy_only=False)
    secs = pc.cast(pc.fill_null(seconds, 0), pa.int64()).to_numpy(zero_copy_only=False)
    ok &= (secs > MIN_NS_SECONDS) & (secs < MAX_NS_SECONDS)
    # The fraction: the digits between "." and "Z", right-padded to nanoseconds.
    digits = pc.utf8_rpad(pc.utf8_slice_codeunits(texts, 20, -1), width=9, padding="0")
    nanos = pc.cast(pc.if_else(ok, digits, "0"), pa.int64()).to_numpy(zero_copy_only=False)
    out = np.where(ok, secs, 0) * 10**9 + nanos
    if not ok.all():
        bad = np.flatnonzero(~ok)
        out[bad] = _pandas_instants(texts.take(bad))
    return out


def parse_instants(values: pa.Array) -> np.ndarray:
    """Like `pd.to_datetime(errors="coerce", utc=True, format="ISO8601")`, as int64 ns (NAT)."""
    out = np.full(len(values), NAT, dtype=np.int64)
    canonical, other = _split(values, CANONICAL_INSTANT)
    if len(canonical):
        texts = values.take(canonical)
        try:
            # Microseconds hold every canonical text (at most 6 fraction digits) for any year;
            # only instants nanoseconds can represent are kept (a direct ns cast would wrap).
            micros = pc.cast(texts, pa.timestamp("us", tz="UTC")).cast(pa.int64())
            micros = micros.to_numpy(zero_copy_only=False)
            inside = (micros > MIN_NS_SECONDS * 1e6) & (micros < MAX_NS_SECONDS * 1e6)
            out[canonical] = np.where(inside, micros * 1000, NAT)
        except pa.ArrowInvalid:
            # Some day does not exist (e.g. 2025-02-30): find those rows, pandas judges them.
            out[canonical] = _instants_checked(texts)
    if len(other):
        out[other] = _pandas_instants(values.take(other))
    return out
