"""The data_engineering nodes run as the pipeline runs them: on the catalog's engine, from files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from kedro_datasets.ibis import FileDataset

from tests.conftest import PROJECT_ROOT
from yield_runway.pipelines.data_engineering import nodes

GLOBALS = yaml.safe_load((PROJECT_ROOT / "conf/base/globals.yml").read_text())


def connection(work: Path) -> dict[str, Any]:
    """The base env's engine, spilling under `work`."""
    return {**GLOBALS["engine"], "temp_directory": str(work / "spill")}


def history(path: Path, work: Path) -> Any:
    """The raw history file as the catalog's `pools_history@ibis` loads it."""
    return FileDataset(
        str(path), "csv", connection=connection(work), load_args=GLOBALS["raw_csv_args"]
    ).load()


def reduce(path: Path, params: dict[str, Any], work: Path) -> tuple[Any, dict[str, Any]]:
    """The observed pool-days (an engine table) and the cleaning report of a raw history file."""
    stored = FileDataset(str(work / "snapshot_readings.parquet"), connection=connection(work))
    stored.save(nodes.read_snapshots(history(path, work), params))
    readings = stored.load()
    report = nodes.summarise_cleaning(readings, nodes.malformed_rows(readings), params)
    days = nodes.reduce_to_days(readings, report, params)
    days, report, _ = nodes.check_history_growth(days, report, {}, params)
    return days, report


def daily(
    path: Path, params: dict[str, Any], work: Path, metadata: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The daily grid as the features read it (written by the engine, read by pandas), and the
    cleaning report."""
    days, report = reduce(path, params, work)
    out = work / "pools_daily.parquet"
    FileDataset(str(out), connection=connection(work)).save(nodes.build_daily_grid(days, metadata))
    return pd.read_parquet(out), report


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """A raw history frame written as the pools.csv format (a missing value is an empty field)."""
    frame.to_csv(path, index=False)
    return path
