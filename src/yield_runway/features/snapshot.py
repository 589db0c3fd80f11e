"""Snapshot pool objects (the dataEnriched.json shape) -> one checked row per pool for a run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from yield_runway.features import snapshot_objects
from yield_runway.features.snapshot_objects import FLAG_VALUES, TEXT_FIELDS

__all__ = ["FLAG_VALUES", "extract_pool_metadata", "object_problems", "parse_snapshot"]


def extract_pool_metadata(
    pools_snapshot: list[dict[str, Any]], params: dict[str, Any]
) -> pd.DataFrame:
    """Take each pool's stablecoin, ilRisk and exposure flags from the snapshot as 1/0/NaN."""
    if not isinstance(pools_snapshot, list):
        raise ValueError("pools_snapshot must be a JSON array of pool objects")
    columns = list(params["snapshot_metadata_columns"])
    snapshot_objects.check_flag_columns(columns)
    frame = pd.DataFrame.from_records(pools_snapshot, columns=["pool", *columns])
    frame = frame.assign(pool=frame["pool"].astype("string").str.strip())
    frame = frame.dropna(subset=["pool"]).drop_duplicates("pool", keep="last")
    metadata = pd.DataFrame({"pool": frame["pool"].to_numpy()}).astype({"pool": "string"})
    for column in columns:
        metadata[column] = [snapshot_objects.flag_value(column, v) for v in frame[column]]
    return metadata


def object_problems(objects: Sequence[Any]) -> pd.Series:
    """Why each snapshot object cannot be used, first reason only; NA where it can be used."""
    return pd.Series(snapshot_objects.object_problems(objects), dtype="string")


def parse_snapshot(
    objects: Sequence[Any], params: Mapping[str, Any], apy_limit: float
) -> tuple[pd.DataFrame, pd.Series]:
    """Checked snapshot rows (one per pool, `position` in the input) and each object's problem.

    `observation` marks rows that training's cleaning would keep (see
    `snapshot_objects.parse_objects`): only those advance a pool's feature state.
    """
    columns, problems = snapshot_objects.parse_objects(
        objects, params["snapshot_metadata_columns"], apy_limit
    )
    rows = pd.DataFrame(columns).astype(dict.fromkeys(TEXT_FIELDS, "string"))
    return rows, pd.Series(problems, dtype="string")
