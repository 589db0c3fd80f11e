"""The streaming data engineering reproduces the whole-file reference exactly, at any batch size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import PROJECT_ROOT
from yield_runway.contracts import HISTORY_COLUMNS
from yield_runway.datasets import CSVBatchesDataset
from yield_runway.features.snapshot import extract_pool_metadata
from yield_runway.pipelines.data_engineering import reference
from yield_runway.pipelines.data_engineering.nodes import (
    build_daily_grid,
    reduce_pools_history,
)
from yield_runway.sample_data.generator import SampleSpec, write

SAMPLE = PROJECT_ROOT / "data" / "01_raw" / "pools_history.csv.gz"


def _dataset(path: Path, block_size: int) -> CSVBatchesDataset:
    """The history as the base catalog reads it (number columns typed where they parse)."""
    catalog = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "catalog.yml").read_text())
    load_args = {**catalog["pools_history"]["load_args"], "block_size": block_size}
    assert load_args["number_columns"]  # the typed path, and its fallback, are what is tested
    return CSVBatchesDataset(filepath=str(path), load_args=load_args)


def _both(path: Path, block_size: int, params: dict) -> tuple:
    """(reference grid, reference report), (streaming grid, streaming report) of one file."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    snapshot = path.parent / "pools_snapshot.json"
    objects = json.loads(snapshot.read_text()) if snapshot.exists() else []
    meta = extract_pool_metadata(objects, params)
    clean, report = reference.clean_pools_history(raw, params)
    expected = reference.aggregate_daily(clean, meta, params)
    observed, streamed_report = reduce_pools_history(_dataset(path, block_size).load(), params)
    return (expected, report), (build_daily_grid(observed, meta), streamed_report)


def _assert_same(expected: tuple, actual: tuple, how: str) -> None:
    assert actual[1] == expected[1]
    # Daily means are sums over batches, not pandas' compensated sum: equal to the last bits.
    rtol = 1e-12 if how == "mean" else 0
    pd.testing.assert_frame_equal(actual[0], expected[0], rtol=rtol, atol=0)


@pytest.fixture(scope="module")
def hourly_file(tmp_path_factory) -> Path:
    """A generated hourly history with every kind of fault (~15k rows)."""
    out = tmp_path_factory.mktemp("hourly")
    spec = SampleSpec(n_pools=25, start="2025-01-01", end="2025-02-05", cadence="hourly", seed=5)
    write(spec, out, compress=False)
    return out / "pools_history.csv"


@pytest.mark.parametrize("block_size", [1 << 18, 1 << 24])
def test_embedded_sample_matches_reference(parameters, block_size):
    expected, actual = _both(SAMPLE, block_size, parameters["data_engineering"])
    _assert_same(expected, actual, "last")
    assert actual[1]["dropped_by_reason"]["duplicate_row"] > 0


@pytest.mark.parametrize("how", ["last", "mean", "median"])
def test_tiny_batches_split_pool_days_and_still_match(parameters, hourly_file, how):
    # ~16 KB batches (about 140 rows): every pool-day (24 rows among ~500 of the same hours)
    # straddles batches, and so do some duplicate pairs.
    params = {**parameters["data_engineering"], "daily_aggregation": how}
    expected, actual = _both(hourly_file, 1 << 14, params)
    _assert_same(expected, actual, how)


def test_number_columns_with_text_in_some_blocks_match(parameters, hourly_file, tmp_path):
    # Odd texts in TVL and APY-base fields of a few rows: their blocks are read as text, the
    # others as numbers; validation must judge both kinds of block as the reference does.
    raw = pd.read_csv(hourly_file, dtype=str, keep_default_na=False)
    odd = ["n/a", " 12 ", "1e3", "-5", "abc", "+7", "1.2.3", "NaN", "inf"]
    rows = np.random.default_rng(2).choice(len(raw), size=60, replace=False)
    raw.loc[rows, "tvlUsd"] = [odd[i % len(odd)] for i in range(len(rows))]
    raw.loc[rows[::2], "apyBase"] = "abc"
    path = tmp_path / "pools_history.csv"
    raw.to_csv(path, index=False)
    batches = list(_dataset(path, 1 << 14).load())
    kinds = {str(b.schema.field("tvlUsd").type) for b in batches}
    assert kinds == {"double", "string"}
    expected, actual = _both(path, 1 << 14, parameters["data_engineering"])
    _assert_same(expected, actual, "last")
    # 6 of the 9 texts are no valid TVL: about 40 of the 60 rows (a few drop for another reason).
    assert actual[1]["dropped_by_reason"]["invalid_tvl"] > 30


def test_outlier_cap_below_a_batch_guard_takes_a_second_pass(parameters, tmp_path, caplog):
    # Early rows all high, later rows all low: the first batches' guards exceed the final cap.
    rows = []
    for day in range(40):
        for hour in range(24):
            apy = 500.0 + day + hour if day < 5 else 1.0 + 0.01 * hour
            ts = pd.Timestamp("2025-01-01") + pd.Timedelta(days=day, hours=hour)
            for pool in ("a", "b"):
                rows.append(
                    [
                        ts.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                        pool,
                        "Base",
                        "x",
                        "USDC",
                        "10",
                        f"{apy:.2f}",
                        f"{apy:.2f}",
                        "",
                    ]
                )
    path = tmp_path / "pools_history.csv"
    pd.DataFrame(rows, columns=HISTORY_COLUMNS).to_csv(path, index=False)
    params = {**parameters["data_engineering"], "apy_outlier_quantile": 0.9}
    with caplog.at_level("INFO"):
        expected, actual = _both(path, 2048, params)
    assert "second pass" in caplog.text
    _assert_same(expected, actual, "last")
    assert actual[1]["dropped_by_reason"]["apy_outlier"] > 0


def test_an_in_memory_frame_is_one_batch(parameters, raw_history):
    params = parameters["data_engineering"]
    observed, report = reduce_pools_history(raw_history, params)
    clean, expected = reference.clean_pools_history(raw_history, params)
    assert report == expected
    grid = build_daily_grid(observed, pd.DataFrame({"pool": pd.Series([], dtype="string")}))
    pd.testing.assert_frame_equal(
        grid,
        reference.aggregate_daily(
            clean, pd.DataFrame({"pool": pd.Series([], dtype="string")}), params
        ),
    )
    assert np.isfinite(report["apy_outlier_cap"])
