"""Raw CSV text -> numbers and UTC timestamps, with exactly the semantics of pandas' parsers.

Arrow's casts are an order of magnitude faster than `pd.to_numeric` / `pd.to_datetime`, but they
reject a whole column for one bad value and accept a different set of spellings. So Arrow parses
the texts in a canonical form (where both agree), and pandas parses only the rest, usually none.
"""

from __future__ import annotations

import functools

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


def text_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes and the n + 1 offsets (into those bytes) of a string array."""
    values = values.cast(pa.large_string()) if pa.types.is_string(values.type) else values
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[
        values.offset : values.offset + n + 1
    ]
    data = values.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    return raw, offsets


def _not_number_bytes(raw: np.ndarray) -> np.ndarray:
    """Positions of the bytes no plain decimal number has (any but 0-9 . e E + -)."""
    # Comparisons, not a 256-entry lookup: NumPy's byte-indexed gather is 3 times slower.
    number = (raw - np.uint8(ord("0"))) <= np.uint8(9)  # wraps below "0"
    for c in ".eE+-":
        number |= raw == np.uint8(ord(c))
    return np.flatnonzero(~number)


def _number_candidates(
    values: pa.Array, raw: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A mask of non-empty texts made only of number bytes, and the other non-null rows.

    `raw` and `offsets` are the texts' `text_buffers`.
    """
    # Bad bytes are rare: find them, then the rows holding them (offsets are sorted).
    bad = _not_number_bytes(raw[offsets[0] : offsets[-1]]) + offsets[0]
    valid = pc.is_valid(values).to_numpy(zero_copy_only=False)
    candidate = valid & (offsets[1:] > offsets[:-1])
    candidate[np.searchsorted(offsets, bad, side="right") - 1] = False
    return candidate, np.flatnonzero(valid & ~candidate)


def _only(raw: np.ndarray, offsets: np.ndarray, keep: np.ndarray) -> pa.Array:
    """The texts of `text_buffers` (those buffers, not a copy), null outside `keep`."""
    validity = pa.py_buffer(np.packbits(keep, bitorder="little"))
    return pa.Array.from_buffers(
        pa.large_string(), len(keep), [validity, pa.py_buffer(offsets), pa.py_buffer(raw)]
    )


# "YYYY-MM-DDTHH:MM:SS.mmmZ", the form DefiLlama writes, read as three little-endian 64-bit
# words and parsed eight bytes at a time (SWAR): per word, which bytes are digits and which
# literal bytes the others must be.
_MILLIS_WIDTH = 24
_MILLIS_LAYOUT = ("dddd-dd-", "ddTdd:dd", ":dd.dddZ")


def _word_masks(layout: str) -> tuple[np.uint64, np.uint64, np.uint64]:
    """(digit byte mask, literal byte mask, literal bytes) of one 8-byte word's layout."""
    digits = literals = expected = 0
    for i, c in enumerate(layout):
        if c == "d":
            digits |= 0xFF << (8 * i)
        else:
            literals |= 0xFF << (8 * i)
            expected |= ord(c) << (8 * i)
    return np.uint64(digits), np.uint64(literals), np.uint64(expected)


_WORD_MASKS = [_word_masks(layout) for layout in _MILLIS_LAYOUT]
_ZEROS, _LOW7 = np.uint64(0x3030303030303030), np.uint64(0x7F7F7F7F7F7F7F7F)
_PLUS_118, _HIGH = np.uint64(0x7676767676767676), np.uint64(0x8080808080808080)


@functools.cache
def _month_table() -> tuple[np.ndarray, np.ndarray]:
    """Per (year 0..9999, month): days from 1970-01-01 to its first day, and its length.

    NumPy's calendar (proleptic Gregorian) decides month lengths and leap years.
    """
    months = (np.arange(10_000 * 12 + 1) - 1970 * 12).astype("datetime64[M]")
    days = months.astype("datetime64[D]").astype(np.int64)
    return days[:-1], np.diff(days)


def _byte(word: np.ndarray, i: int) -> np.ndarray:
    """Byte i (little-endian) of each word, as int64."""
    return ((word >> np.uint64(8 * i)) & np.uint64(0xFF)).view(np.int64)


def _digits(word: np.ndarray, layout: int) -> tuple[np.ndarray, np.ndarray]:
    """Whether each word has its layout's literal bytes and digits, and its digit values.

    The values are pairs: 10 * a digit + the next digit, in the byte of the pair's first digit.
    """
    digit_mask, literal_mask, literals = _WORD_MASKS[layout]
    ok = (word & literal_mask) == literals
    # A digit byte XOR "0" is its value, at most 9; adding 118 to at most 9 keeps the high bit
    # clear (no carry into the next byte, as the byte is first masked to 7 bits).
    x = (word ^ _ZEROS) & digit_mask
    ok &= ((((x & _LOW7) + _PLUS_118) | x) & _HIGH & digit_mask) == 0
    return ok, x * np.uint64(10) + (x >> np.uint64(8))


def _minutes(date: np.ndarray, clock: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether "YYYY-MM-" + "DDTHH:MM" words are a real date, hour and minute; epoch minutes."""
    ok, date_pairs = _digits(date, 0)
    ok_clock, clock_pairs = _digits(clock, 1)
    year = _byte(date_pairs, 0) * 100 + _byte(date_pairs, 2)
    month, day = _byte(date_pairs, 5), _byte(clock_pairs, 0)
    hour, minute = _byte(clock_pairs, 3), _byte(clock_pairs, 6)
    # NumPy's calendar decides month lengths (a day past the month's end is no date).
    month_start, month_length = _month_table()
    at = year * 12 + np.clip(month, 1, 12) - 1
    ok &= ok_clock & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_length[at])
    ok &= (hour <= 23) & (minute <= 59)
    return ok, ((month_start[at] + day - 1) * 24 + hour) * 60 + minute


def _records(raw: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """The `width`-byte texts starting at `starts`, as one C-contiguous (n, width) byte array.

    Texts of a column mostly sit back to back: each such run is copied as one slice. Where the
    runs are short, each text is gathered by itself instead.
    """
    breaks = np.flatnonzero(np.diff(starts) != width) + 1
    if len(breaks) > len(starts) // 16:
        return np.lib.stride_tricks.sliding_window_view(raw, width)[starts]
    bounds = np.r_[0, breaks, len(starts)].tolist()
    pieces = [
        raw[starts[i] : starts[i] + width * (j - i)]
        for i, j in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    return np.concatenate(pieces).reshape(-1, width)


def _millis_instants(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Rows in the exact millisecond form with a real date and time, and their epoch ns."""
    raw, offsets = text_buffers(values)
    wide = np.diff(offsets) == _MILLIS_WIDTH
    rows = np.flatnonzero(wide & pc.is_valid(values).to_numpy(False) if values.null_count else wide)
    if not len(rows):
        return rows, np.zeros(0, dtype=np.int64)
    words = _records(raw, offsets[rows], _MILLIS_WIDTH).view("<u8")
    date, clock, rest = words[:, 0], words[:, 1], words[:, 2]
    # Snapshots come in bursts: a row whose date, hour and minute (16 bytes) are the row
    # before's shares its parse, so those are parsed once per run of equal rows.
    head = np.r_[True, (date[1:] != date[:-1]) | (clock[1:] != clock[:-1])]
    run = np.cumsum(head) - 1
    ok_minute, minutes = (v[run] for v in _minutes(date[head], clock[head]))
    ok, rest_pairs = _digits(rest, 2)
    second = _byte(rest_pairs, 1)
    millis = _byte(rest_pairs, 4) * 10 + _byte(rest ^ _ZEROS, 6)
    seconds = minutes * 60 + second
    ok &= ok_minute & (second <= 59) & (seconds > MIN_NS_SECONDS) & (seconds < MAX_NS_SECONDS)
    return rows[ok], (seconds * 1000 + millis)[ok] * 1_000_000


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
    """Like `pd.to_numeric(errors="coerce")` as float64: anything unparsable is NaN.

    A float64 column (numbers the CSV reader parsed, nulls for blanks) is returned as it is.
    """
    if values.type == pa.float64():
        return values.to_numpy(zero_copy_only=False)
    # Texts with a byte no number has go to pandas, the rest are cast together (a regex decides
    # only if that cast fails too). Cheaper than trying one cast first: a cast that fails has
    # read the whole column, and a batch with a single bad text would pay for two casts.
    raw, offsets = text_buffers(values)
    candidate, other = _number_candidates(values, raw, offsets)
    try:
        out = pc.cast(_only(raw, offsets, candidate), pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = np.full(len(values), np.nan)
        canonical, other = _split(values, CANONICAL_NUMBER)
        out[canonical] = pc.cast(values.take(canonical), pa.float64()).to_numpy(
            zero_copy_only=False
        )
    if len(other):
        out = np.array(out)  # writable
        text = pd.Series(values.take(other).to_pylist(), dtype="string")
        out[other] = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return out


def _pandas_instants(values: pa.Array) -> np.ndarray:
    """ISO-8601 texts to epoch nanoseconds (UTC) with pandas; unparsable -> NAT.

    Each distinct text is parsed once: texts left to pandas are mostly a few broken ones, over
    and over, and pandas is slow on what it cannot parse.
    """
    encoded = pc.dictionary_encode(values)
    # One more slot, NAT, for the nulls.
    parsed = np.append(_pandas_distinct_instants(encoded.dictionary), NAT)
    codes = pc.fill_null(encoded.indices, len(encoded.dictionary))
    return parsed[codes.to_numpy(zero_copy_only=False)]


def _pandas_distinct_instants(values: pa.Array) -> np.ndarray:
    """`_pandas_instants` of texts without repeats or nulls."""
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
    fast, instants = _millis_instants(values)
    if len(fast) == len(values):
        return instants
    out = np.full(len(values), NAT, dtype=np.int64)
    out[fast] = instants
    rest = np.ones(len(values), dtype=bool)
    rest[fast] = False
    rest = np.flatnonzero(rest)
    out[rest] = _any_instants(values.take(rest) if len(fast) else values)
    return out


def _any_instants(values: pa.Array) -> np.ndarray:
    """Canonical instants through Arrow, the other texts through pandas; unparsable -> NAT."""
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
