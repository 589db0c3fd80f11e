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

import numpy as np
import pandas as pd

from .parsing import NAT

DAY_NS = 86_400 * 10**9
# key = pool code * 2**22 + (day + 2**21): days since 1970 fit in 22 bits for +-5,700 years.
DAY_BITS, DAY_OFFSET = 22, 1 << 21
ATTRIBUTES = ("chain", "project", "symbol")


def day_keys(pool: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """One int64 key per (pool, UTC calendar day)."""
    return (pool.astype(np.int64) << DAY_BITS) | (ts // DAY_NS + DAY_OFFSET)


def split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool codes and dates (datetime64[us]) of pool-day keys."""
    days = (keys & ((1 << DAY_BITS) - 1)) - DAY_OFFSET
    return (keys >> DAY_BITS).astype(np.int32), days.astype("datetime64[D]").astype(
        "datetime64[us]"
    )


def _last(frame: pd.DataFrame, groups: dict[str, list[str]], in_seq_order: bool) -> pd.DataFrame:
    """Per key, each group's winning (ts, seq, values); `frame` has key, ts_<g>, seq_<g>, values.

    One row per key of `frame`, sorted by key; a group with no valid row for a key has NAT
    ts and seq and NaN values there.
    """
    keys = frame["key"].to_numpy()
    out_keys = np.unique(keys)
    out: dict[str, np.ndarray] = {"key": out_keys}
    for group, payload in groups.items():
        ts, seq = frame[f"ts_{group}"].to_numpy(), frame[f"seq_{group}"].to_numpy()
        valid = np.flatnonzero(ts != NAT)
        if in_seq_order:  # rows already in file order: a stable sort on time is enough
            order = valid[np.argsort(ts[valid], kind="stable")]
        else:
            order = valid[np.lexsort((seq[valid], ts[valid]))]
        winners = order[~pd.Series(keys[order]).duplicated(keep="last").to_numpy()]
        at = np.searchsorted(out_keys, keys[winners])
        for name, values, fill in (
            (f"ts_{group}", ts, NAT),
            (f"seq_{group}", seq, NAT),
            *((v, frame[v].to_numpy(dtype=float), np.nan) for v in payload),
        ):
            column = np.full(len(out_keys), fill, dtype=values.dtype)
            column[at] = values[winners]
            out[name] = column
    return pd.DataFrame(out)


def _as_groups(rows: pd.DataFrame, key: np.ndarray, groups: dict[str, np.ndarray]) -> pd.DataFrame:
    """Clean rows in the partial layout: a group's ts is NAT where the group is null."""
    ts, seq = rows["ts"].to_numpy(), rows["seq"].to_numpy()
    frame = {"key": key}
    for group, valid in groups.items():
        frame[f"ts_{group}"] = np.where(valid, ts, NAT)
        frame[f"seq_{group}"] = seq
    values = rows.drop(columns=["pool", "ts", "seq"])
    return pd.concat([pd.DataFrame(frame, index=rows.index), values], axis=1)


def attribute_partial(rows: pd.DataFrame, in_seq_order: bool = True) -> pd.DataFrame:
    """Per pool, the latest non-missing chain, project and symbol code of clean rows."""
    valid = {a: rows[a].to_numpy() >= 0 for a in ATTRIBUTES}
    frame = _as_groups(rows[["pool", "ts", "seq", *ATTRIBUTES]], rows["pool"].to_numpy(), valid)
    return _last(frame, {a: [a] for a in ATTRIBUTES}, in_seq_order)


def value_partial(
    rows: pd.DataFrame, values: list[str], how: str, in_seq_order: bool = True
) -> pd.DataFrame:
    """Per pool-day partial aggregate (`how`: last, mean or median) of the value columns."""
    key = day_keys(rows["pool"].to_numpy(), rows["ts"].to_numpy())
    if how == "median":
        return pd.DataFrame({"key": key, **{v: rows[v].to_numpy() for v in values}})
    if how == "mean":
        frame = pd.DataFrame({v: rows[v].to_numpy() for v in values})
        grouped = frame.groupby(key, sort=False)
        sums = grouped.sum().add_prefix("sum_")
        counts = grouped.count().add_prefix("n_")
        return pd.concat([sums, counts], axis=1).rename_axis("key").reset_index()
    # apy and tvlUsd are never null in clean rows: one group; optional columns are their own.
    groups = {"row": ["apy", "tvlUsd"], **{v: [v] for v in values if v not in ("apy", "tvlUsd")}}
    valid = {g: rows[g].notna().to_numpy() if g != "row" else True for g in groups}
    frame = _as_groups(rows[["pool", "ts", "seq", *values]], key, valid)
    return _last(frame, groups, in_seq_order)


def combine_attributes(partials: list[pd.DataFrame]) -> pd.DataFrame:
    """Merge attribute partials of any batches into one."""
    return _last(pd.concat(partials, ignore_index=True), {a: [a] for a in ATTRIBUTES}, False)


def combine_values(partials: list[pd.DataFrame], values: list[str], how: str) -> pd.DataFrame:
    """Merge value partials of any batches into one (for median: concatenate the rows)."""
    frame = pd.concat(partials, ignore_index=True)
    if how == "median":
        return frame
    if how == "mean":
        return frame.groupby("key", sort=False).sum().reset_index()
    groups = {"row": ["apy", "tvlUsd"], **{v: [v] for v in values if v not in ("apy", "tvlUsd")}}
    return _last(frame, groups, in_seq_order=False)


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
