"""The engine's definition reproduces the pandas reference: the embedded sample, the embedded real
slice and a generated 1M-row hourly file, each daily aggregation (values exact for last, within
1e-12 otherwise; the report, its outlier cap included, exact)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT
from tests.pipelines.data_engineering import engine, reference
from yield_runway.features.snapshot import extract_pool_metadata

SOURCES = {
    "sample": PROJECT_ROOT / "data/01_raw",
    "real": PROJECT_ROOT / "data/real_lending/01_raw",
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """A generated hourly history of about 1M rows (its faults included), and its snapshot."""
    out = tmp_path_factory.mktemp("generated")
    command = [sys.executable, "-m", "yield_runway.sample_data", "--rows", "1000000"]
    command += ["--cadence", "hourly", "--uncompressed", "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True)
    return out


def _reference(folder: Path, history: str, params: dict) -> tuple[pd.DataFrame, dict]:
    raw = pd.read_csv(folder / history, dtype=str, keep_default_na=False, na_values=[""])
    clean, report = reference.clean_pools_history(raw, params)
    metadata = extract_pool_metadata(
        json.loads((folder / "pools_snapshot.json").read_text()), params
    )
    return reference.aggregate_daily(clean, metadata, params), report


@pytest.mark.parametrize("how", ["last", "mean", "median"])
@pytest.mark.parametrize("source", ["sample", "real", "generated"])
def test_the_engine_reproduces_the_reference(parameters, generated, tmp_path, source, how):
    if source == "generated":
        folder, history = generated, "pools_history.csv"
    else:
        folder, history = SOURCES[source], "pools_history.csv.gz"
    params = {**parameters["data_engineering"], "daily_aggregation": how}
    expected, expected_report = _reference(folder, history, params)
    metadata = extract_pool_metadata(
        json.loads((folder / "pools_snapshot.json").read_text()), params
    )
    daily, report = engine.daily(folder / history, params, tmp_path, metadata)

    assert report == expected_report
    assert daily["pool"].tolist() == expected["pool"].tolist()
    assert (daily["date"] == expected["date"]).all() and daily["observed"].equals(
        expected["observed"]
    )
    for column in ("chain", "project", "symbol"):
        assert daily[column].fillna("<NA>").tolist() == expected[column].fillna("<NA>").tolist()
    for column in ("apy", "apyBase", "apyReward", "tvlUsd", "stablecoin", "ilRisk", "exposure"):
        ours, theirs = daily[column].to_numpy(float), expected[column].to_numpy(float)
        assert (np.isnan(ours) == np.isnan(theirs)).all(), column
        if how == "last" or column not in ("apy", "apyBase", "apyReward", "tvlUsd"):
            assert np.array_equal(ours, theirs, equal_nan=True), column
        else:
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0, err_msg=column)
