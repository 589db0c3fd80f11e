"""Snapshot pool objects (the dataEnriched.json shape) -> checked columns, without pandas.

The hourly run (`features.snapshot`, as a frame) and the API (as NumPy columns) parse a
snapshot with these same functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from yield_runway.contracts import POOL_ATTRIBUTE_COLUMNS
from yield_runway.json_values import is_number, text_problem

TEXT_FIELDS = ("pool", *POOL_ATTRIBUTE_COLUMNS)
NUMERIC_FIELDS = ("apy", "tvlUsd", "apyBase", "apyReward")
COMPONENT_FIELDS = ("apyBase", "apyReward")
# How the snapshot's metadata texts read as flags (training and serving alike).
FLAG_VALUES = {
    "stablecoin": {"true": 1.0, "false": 0.0},
    "ilRisk": {"yes": 1.0, "no": 0.0},
    "exposure": {"multi": 1.0, "single": 0.0},
}


def _missing(value: Any) -> bool:
    """JSON null, an absent field or NaN (which Python's JSON reader accepts)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def text_value(value: Any) -> str | None:
    """A field as stripped text; None when missing."""
    return None if _missing(value) else str(value).strip()


def flag_value(column: str, value: Any) -> float:
    """A metadata text as its flag (1/0), NaN when missing or not one of the column's words."""
    text = text_value(value)
    return math.nan if text is None else FLAG_VALUES[column].get(text.lower(), math.nan)


def check_flag_columns(columns: Sequence[str]) -> None:
    """Fail unless every configured metadata column has a flag encoding."""
    unknown = sorted(set(columns) - set(FLAG_VALUES))
    if unknown:
        raise ValueError(f"No flag encoding for snapshot metadata column(s): {', '.join(unknown)}")


def _object_problem(item: Any, check_text: bool) -> str | None:
    """Why one object cannot be used (first reason only), before duplicates."""
    if not isinstance(item, dict):
        return "not_an_object"
    problem = text_problem(item) if check_text else None
    if problem is not None:
        return problem
    pool = item.get("pool")
    if not (isinstance(pool, str) and pool.strip()):
        return "missing_pool"
    # Any field but `pool` may be null; a present value must be a number, though.
    if any(not _missing(item.get(f)) and not is_number(item.get(f)) for f in NUMERIC_FIELDS):
        return "non_numeric_value"
    return None


def object_problems(objects: Sequence[Any]) -> list[str | None]:
    """Why each snapshot object cannot be used, first reason only; None where it can be used."""
    # One text check of them all (every text valid, the usual case), each object's only if not.
    check_text = text_problem(list(objects)) is not None
    problems = [_object_problem(item, check_text) for item in objects]
    # A pool listed twice: the later object wins, like the daily `last`.
    seen: set[str] = set()
    for i in range(len(objects) - 1, -1, -1):
        if problems[i] is None:
            pool = objects[i]["pool"].strip()
            problems[i] = "duplicate_pool" if pool in seen else None
            seen.add(pool)
    return problems


def parse_objects(
    objects: Sequence[Any],
    flag_columns: Sequence[str],
    apy_limit: float,
    problems: list[str | None] | None = None,
) -> tuple[dict[str, np.ndarray], list[str | None]]:
    """Columns of the usable objects (`position` in the input) and each object's problem.

    `observation` marks rows that training's cleaning would keep (APY and TVL present,
    non-negative, APY not above `apy_limit`, the largest APY training kept): only those advance
    a pool's feature state. Text columns are object arrays of str or None. `problems`, when
    given, are those `object_problems` found already.
    """
    if not isinstance(objects, list):
        raise ValueError(f"pools_snapshot must be a JSON array, got {type(objects).__name__}")
    check_flag_columns(flag_columns)
    problems = object_problems(objects) if problems is None else problems
    position = np.array([i for i, p in enumerate(problems) if p is None], dtype=np.int64)
    valid = [objects[i] for i in position]
    columns: dict[str, np.ndarray] = {}
    for field in TEXT_FIELDS:
        columns[field] = np.array([text_value(o.get(field)) for o in valid] or [], dtype=object)
    for field in NUMERIC_FIELDS:
        values = [math.nan if _missing(o.get(field)) else float(o[field]) for o in valid]
        columns[field] = np.array(values, dtype=float)
    with np.errstate(invalid="ignore"):
        for field in COMPONENT_FIELDS:
            # As in cleaning: a negative APY component is unknown, not a reason to drop the pool.
            columns[field] = np.where(columns[field] >= 0, columns[field], np.nan)
        apy, tvl = columns["apy"], columns["tvlUsd"]
        columns["observation"] = (apy >= 0) & (apy <= apy_limit) & (tvl >= 0)
    for column in flag_columns:
        columns[column] = np.array([flag_value(column, o.get(column)) for o in valid], dtype=float)
    columns["position"] = position
    return columns, problems
