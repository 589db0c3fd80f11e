"""Partial daily aggregates of clean snapshot rows, combined exactly across batch boundaries.

A partial is a small frame with one row per key (a pool-day, or a pool for its attributes):
- last: per column group, the winning row's (ts, seq) and values. The winner is the latest
  timestamp, ties to the later row in the file, among rows where the group is non-null (pandas'
  `groupby(...).last()` skips nulls column by column). Keeping (ts, seq) makes combining exact.
- mean: per column, the sum and the count of non-null values.
- median: no reduction is exact, so the partial is the rows themselves (key and values: 8 bytes
  per value column and row, kept for the whole history; only with daily_aggregation: median).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .parsing import NAT

DAY_NS = 86_400 * 10**9
# key = pool code * 2**22 + (day + 2**21): days since 1970 fit in 22 bits for +-5,700 years.
DAY_BITS, DAY_OFFSET = 22, 1 << 21
ATTRIBUTES = ("chain", "project", "symbol")
# Clean rows of a batch, column name -> values (all of one length): see `CleanRows.take`.
Rows = Mapping[str, np.ndarray]
# Each attribute is its own column group: a row's chain may be missing while its symbol is not.
ATTRIBUTE_GROUPS = {a: [a] for a in ATTRIBUTES}


def day_keys(pool: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """One int64 key per (pool, UTC calendar day)."""
    return (pool.astype(np.int64) << DAY_BITS) | (ts // DAY_NS + DAY_OFFSET)


def split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool codes and dates (datetime64[us]) of pool-day keys."""
    days = (keys & ((1 << DAY_BITS) - 1)) - DAY_OFFSET
    return (keys >> DAY_BITS).astype(np.int32), days.astype("datetime64[D]").astype(
        "datetime64[us]"
    )


def _dense_codes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..k-1 of int64 keys in key order, and the k distinct keys (sorted).

    A batch's keys usually fill a small box of pools x days (a few days of every pool, or every
    day of a few pools): a bitmap over the box then replaces a sort or a hash of every key.
    """
    if not len(keys):
        return np.zeros(0, dtype=np.int64), keys
    high, low = keys >> DAY_BITS, keys & ((1 << DAY_BITS) - 1)
    high0, low0 = high.min(), low.min()
    span = int(low.max() - low0 + 1)
    size = int(high.max() - high0 + 1) * span
    if size > 4 * len(keys) + 4096:  # keys spread thin: sort them
        distinct, codes = np.unique(keys, return_inverse=True)
        return codes, distinct
    dense = (high - high0) * span + (low - low0)
    present = np.zeros(size, dtype=bool)
    present[dense] = True
    index = np.flatnonzero(present)
    codes = (np.cumsum(present) - 1)[dense]
    return codes, ((high0 + index // span) << DAY_BITS) | (low0 + index % span)


def _last(
    frame: Mapping[str, np.ndarray] | pd.DataFrame, groups: dict[str, list[str]]
) -> pd.DataFrame:
    """Per key, each group's winning (ts, seq, values); `frame` has key, ts_<g>, seq_<g>, values.

    The winner is the row with the latest ts, ties to the larger seq (the later row in the
    file; seqs are distinct). One row per key of `frame`, sorted by key; a group with no valid
    row for a key has NAT ts and seq and NaN values there. No sort: running maxima per key.
    """
    codes, out_keys = _dense_codes(np.asarray(frame["key"]))
    out: dict[str, np.ndarray] = {"key": out_keys}
    shared: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    for group, payload in groups.items():
        ts, seq = np.asarray(frame[f"ts_{group}"]), np.asarray(frame[f"seq_{group}"])
        if shared is not None and np.array_equal(ts, shared[0]) and np.array_equal(seq, shared[1]):
            # The same (ts, seq) as the group before (e.g. attributes never missing in a
            # batch): the same winners.
            winners, at = shared[2], shared[3]
        else:
            rows = np.flatnonzero(ts != NAT)
            winners, at = _winners(codes[rows], ts[rows], seq[rows], len(out_keys))
            winners = rows[winners]
            shared = (ts, seq, winners, at)
        for name, values, fill in (
            (f"ts_{group}", ts, NAT),
            (f"seq_{group}", seq, NAT),
            *((v, np.asarray(frame[v], dtype=float), np.nan) for v in payload),
        ):
            column = np.full(len(out_keys), fill, dtype=values.dtype)
            column[at] = values[winners]
            out[name] = column
    return pd.DataFrame(out)


def _winners(
    code: np.ndarray, ts: np.ndarray, seq: np.ndarray, n_codes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the rows with the latest (ts, seq) per code, and their codes."""
    if (ts[1:] >= ts[:-1]).all() and (seq[1:] >= seq[:-1]).all():
        # Rows already in (ts, seq) order (a batch of a time-ordered file): the last row wins.
        last = np.full(n_codes, -1, dtype=np.int64)
        np.maximum.at(last, code, np.arange(len(code)))
        at = np.flatnonzero(last >= 0)
        return last[at], at
    latest_ts = np.full(n_codes, NAT, dtype=np.int64)
    np.maximum.at(latest_ts, code, ts)
    latest = ts == latest_ts[code]
    latest_seq = np.full(n_codes, NAT, dtype=np.int64)
    np.maximum.at(latest_seq, code[latest], seq[latest])
    wins = np.flatnonzero(latest & (seq == latest_seq[code]))
    return wins, code[wins]


def _as_groups(
    rows: Rows, key: np.ndarray, groups: dict[str, np.ndarray], columns: list[str]
) -> dict[str, np.ndarray]:
    """Clean rows in the partial layout: a group's ts is NAT where the group is null."""
    ts, seq = rows["ts"], rows["seq"]
    frame = {"key": key}
    for group, valid in groups.items():
        frame[f"ts_{group}"] = np.where(valid, ts, NAT)
        frame[f"seq_{group}"] = seq
    return {**frame, **{c: rows[c] for c in columns}}


def attribute_partial(rows: Rows) -> pd.DataFrame:
    """Per pool, the latest non-missing chain, project and symbol code of clean rows."""
    valid = {a: rows[a] >= 0 for a in ATTRIBUTES}
    frame = _as_groups(rows, rows["pool"].astype(np.int64), valid, list(ATTRIBUTES))
    return _last(frame, ATTRIBUTE_GROUPS)


def _value_groups(values: list[str]) -> dict[str, list[str]]:
    """The column groups of the value columns for `_last`."""
    # apy and tvlUsd are never null in clean rows: one group; optional columns are their own.
    return {"row": ["apy", "tvlUsd"], **{v: [v] for v in values if v not in ("apy", "tvlUsd")}}


def value_partial(rows: Rows, values: list[str], how: str) -> pd.DataFrame:
    """Per pool-day partial aggregate (`how`: last, mean or median) of the value columns."""
    key = day_keys(rows["pool"], rows["ts"])
    if how == "median":
        return pd.DataFrame({"key": key, **{v: rows[v] for v in values}})
    if how == "mean":
        frame = pd.DataFrame({v: rows[v] for v in values})
        grouped = frame.groupby(key, sort=False)
        sums = grouped.sum().add_prefix("sum_")
        counts = grouped.count().add_prefix("n_")
        return pd.concat([sums, counts], axis=1).rename_axis("key").reset_index()
    groups = _value_groups(values)
    valid = {g: ~np.isnan(rows[g]) if g != "row" else True for g in groups}
    frame = _as_groups(rows, key, valid, values)
    return _last(frame, groups)


def _combine_last(partials: list[pd.DataFrame], groups: dict[str, list[str]]) -> pd.DataFrame:
    """`_last` of partials (each one row per key, sorted by key), as one partial.

    The first is usually the large combination of every batch so far: the others are reduced
    together, then merged into it, so its rows are not reduced again.
    """
    if len(partials) == 1:
        return partials[0]
    newer = partials[1] if len(partials) == 2 else _last(pd.concat(partials[1:]), groups)
    return _merge_last(partials[0], newer, groups)


def _merge_last(
    older: pd.DataFrame, newer: pd.DataFrame, groups: dict[str, list[str]]
) -> pd.DataFrame:
    """`_last` of two partials with one row per key, sorted by key: per key and group, the
    later (ts, seq) wins (NAT, no valid row, loses to any)."""
    keys, new_keys = older["key"].to_numpy(), newer["key"].to_numpy()
    at = np.searchsorted(keys, new_keys)
    shared = at < len(keys)
    shared[shared] = keys[at[shared]] == new_keys[shared]
    # Keys only in the newer partial go in at their place, so the result stays sorted by key.
    added = np.flatnonzero(~shared)
    is_added = np.zeros(len(keys) + len(added), dtype=bool)
    is_added[at[added] + np.arange(len(added))] = True
    out = {}
    for name in older.columns:
        column = np.empty(len(is_added), dtype=older[name].dtype)
        column[~is_added] = older[name].to_numpy()
        column[is_added] = newer[name].to_numpy()[added]
        out[name] = column
    # Shared keys: where the result holds the older row, per group the newer wins if later.
    old_at = np.flatnonzero(~is_added)[at[shared]]
    new_rows = np.flatnonzero(shared)
    for group, payload in groups.items():
        ts, seq = f"ts_{group}", f"seq_{group}"
        new_ts, new_seq = newer[ts].to_numpy()[new_rows], newer[seq].to_numpy()[new_rows]
        old_ts, old_seq = out[ts][old_at], out[seq][old_at]
        wins = (new_ts > old_ts) | ((new_ts == old_ts) & (new_seq > old_seq))
        for name in (ts, seq, *payload):
            out[name][old_at[wins]] = newer[name].to_numpy()[new_rows[wins]]
    return pd.DataFrame(out)


def combine_attributes(partials: list[pd.DataFrame]) -> pd.DataFrame:
    """Merge attribute partials of any batches into one."""
    return _combine_last(partials, ATTRIBUTE_GROUPS)


def combine_values(partials: list[pd.DataFrame], values: list[str], how: str) -> pd.DataFrame:
    """Merge value partials of any batches into one (for median: concatenate the rows)."""
    if how == "last":
        return _combine_last(partials, _value_groups(values))
    frame = pd.concat(partials, ignore_index=True)
    if how == "median":
        return frame
    return frame.groupby("key", sort=False).sum().reset_index()


def finish_values(partial: pd.DataFrame, values: list[str], how: str) -> pd.DataFrame:
    """The daily values per pool-day key from a combined partial."""
    if how == "median":
        return partial.groupby("key", sort=False)[values].median().reset_index()
    if how == "mean":
        means = {
            v: partial[f"sum_{v}"] / partial[f"n_{v}"].where(partial[f"n_{v}"] > 0) for v in values
        }
        return pd.DataFrame({"key": partial["key"], **means})
    return partial[["key", *values]]
