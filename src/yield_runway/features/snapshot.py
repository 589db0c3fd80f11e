"""Snapshot pool objects (the dataEnriched.json shape) -> one checked row per pool for a run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from yield_runway.json_values import is_number, text_problem

TEXT_FIELDS = ("pool", "chain", "project", "symbol")
NUMERIC_FIELDS = ("apy", "tvlUsd", "apyBase", "apyReward")
COMPONENT_FIELDS = ("apyBase", "apyReward")


# How the snapshot's metadata texts read as flags (training and serving alike).
FLAG_VALUES = {
    "stablecoin": {"true": 1.0, "false": 0.0},
    "ilRisk": {"yes": 1.0, "no": 0.0},
    "exposure": {"multi": 1.0, "single": 0.0},
}


def extract_pool_metadata(
    pools_snapshot: list[dict[str, Any]], params: dict[str, Any]
) -> pd.DataFrame:
    """Take each pool's stablecoin, ilRisk and exposure flags from the snapshot as 1/0/NaN."""
    if not isinstance(pools_snapshot, list):
        raise ValueError("pools_snapshot must be a JSON array of pool objects")
    columns = list(params["snapshot_metadata_columns"])
    unknown = sorted(set(columns) - set(FLAG_VALUES))
    if unknown:
        raise ValueError(f"No flag encoding for snapshot metadata column(s): {', '.join(unknown)}")
    frame = pd.DataFrame.from_records(pools_snapshot, columns=["pool", *columns])
    frame = frame.dropna(subset=["pool"]).drop_duplicates("pool", keep="last")
    metadata = pd.DataFrame({"pool": frame["pool"].astype("string").to_numpy()})
    for column in columns:
        text = frame[column].astype("string").str.strip().str.lower()
        metadata[column] = text.map(FLAG_VALUES[column]).astype(float).to_numpy()
    return metadata


def object_problems(objects: Sequence[Any]) -> pd.Series:
    """Why each snapshot object cannot be used, first reason only; NA where it can be used."""
    n = len(objects)
    is_object = np.fromiter((isinstance(o, dict) for o in objects), dtype=bool, count=n)
    text = [text_problem(o) if ok else None for o, ok in zip(objects, is_object, strict=True)]
    bad_text = np.array([t == "invalid_text" for t in text], dtype=bool)
    too_deep = np.array([t == "too_deep" for t in text], dtype=bool)
    is_object &= ~(bad_text | too_deep)
    records = [o if ok else {} for o, ok in zip(objects, is_object, strict=True)]
    frame = pd.DataFrame.from_records(records, columns=["pool", *NUMERIC_FIELDS]).reindex(range(n))
    has_pool = frame["pool"].map(lambda v: isinstance(v, str) and v.strip() != "").to_numpy(bool)
    # Any field but `pool` may be null; a present value must be a number, though.
    bad_number = np.zeros(n, dtype=bool)
    for field in NUMERIC_FIELDS:
        values = frame[field]
        bad_number |= (values.notna() & ~values.map(is_number).astype(bool)).to_numpy(bool)
    usable = is_object & has_pool & ~bad_number
    # A pool listed twice: the later object wins, like the daily `last`.
    duplicate = np.zeros(n, dtype=bool)
    pools = frame.loc[usable, "pool"].astype("string").str.strip()
    duplicate[usable] = pools.duplicated(keep="last").to_numpy()
    reasons = np.select(
        [bad_text, too_deep, ~is_object, ~has_pool, bad_number, duplicate],
        [
            "invalid_text",
            "too_deep",
            "not_an_object",
            "missing_pool",
            "non_numeric_value",
            "duplicate_pool",
        ],
        default="",
    )
    return pd.Series(reasons, dtype="string").replace("", pd.NA)


def parse_snapshot(
    objects: Sequence[Any], params: Mapping[str, Any], apy_limit: float
) -> tuple[pd.DataFrame, pd.Series]:
    """Checked snapshot rows (one per pool, `position` in the input) and each object's problem.

    `observation` marks rows that training's cleaning would keep (APY and TVL present,
    non-negative, APY not above `apy_limit`, the largest APY training kept): only those advance
    a pool's feature state.
    """
    if not isinstance(objects, list):
        raise ValueError(f"pools_snapshot must be a JSON array, got {type(objects).__name__}")
    problems = object_problems(objects)
    position = np.flatnonzero(problems.isna().to_numpy())
    valid = [objects[i] for i in position]
    frame = pd.DataFrame.from_records(valid, columns=[*TEXT_FIELDS, *NUMERIC_FIELDS])
    text = {f: frame[f].astype("string").str.strip() for f in TEXT_FIELDS}
    numbers = {f: pd.to_numeric(frame[f], errors="coerce").astype(float) for f in NUMERIC_FIELDS}
    for field in COMPONENT_FIELDS:
        # As in cleaning: a negative APY component is unknown, not a reason to drop the pool.
        numbers[field] = numbers[field].where(numbers[field] >= 0)
    apy, tvl = numbers["apy"], numbers["tvlUsd"]
    observation = apy.ge(0) & apy.le(apy_limit) & tvl.ge(0)
    rows = pd.DataFrame({**text, **numbers, "observation": observation.to_numpy(bool)})
    flags = extract_pool_metadata(valid, params).set_index("pool")
    rows = rows.join(flags, on="pool").assign(position=position)
    return rows, problems
