"""Shared set-up for the ingestion pipeline tests: parameters, catalog, runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from kedro_datasets.ibis import FileDataset
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import CSVDataset

from tests.ingestion.fake_api import FakeYieldsApi, chart_points, ok, pool_object
from yield_runway.ingestion.partition_store import ResumablePartitionsDataset
from yield_runway.pipelines.ingestion import create_pipeline

HEADER = "timestamp,pool,chain,project,symbol,tvlUsd,apy,apyBase,apyReward"


def make_params(base_url: str, **overrides: Any) -> dict[str, Any]:
    """conf/base/parameters_ingestion.yml's shape with tiny waits for tests."""
    params = {
        "base_url": base_url,
        "selection": {
            "min_tvl_usd": 1_000_000,
            "chains": None,
            "projects": None,
            "stablecoin_only": False,
            "max_pools": None,
        },
        "max_workers": 4,
        "requests_per_second": 1000,
        "burst": 50,
        # Well under the slow endpoint's 1 s delay, well over a local reply on a busy machine.
        "timeout_s": 0.6,
        "max_retries": 2,
        "backoff": {"base_s": 0.01, "factor": 2.0, "max_s": 0.05, "jitter": 0.0},
        "max_failed_share": 0.5,
        "resume_max_age_hours": 24,
        "progress": {"every_pools": 2, "every_s": 5},
    }
    params.update(overrides)
    return params


def make_catalog(tmp_path: Path, params: dict[str, Any]) -> DataCatalog:
    """The live env's datasets, rooted in ``tmp_path``."""
    catalog = DataCatalog(
        {
            "pools_snapshot": JSONDataset(filepath=str(tmp_path / "pools_snapshot.json")),
            "pools_history@pandas": CSVDataset(
                filepath=str(tmp_path / "pools_history.csv"), save_args={"index": False}
            ),
            "pools_history@ibis": FileDataset(str(tmp_path / "pools_history.csv"), "csv"),
            "ingestion_chart_store": ResumablePartitionsDataset(
                path=str(tmp_path / "charts"),
                dataset={"type": "json.JSONDataset"},
                filename_suffix=".json",
            ),
            "ingestion_summary": JSONDataset(filepath=str(tmp_path / "summary.json")),
        }
    )
    catalog["params:ingestion"] = params
    catalog["params:ingestion.selection"] = params["selection"]
    catalog["params:ingestion.max_failed_share"] = params["max_failed_share"]
    return catalog


def run_ingestion(tmp_path: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Run the pipeline with a SequentialRunner; return the summary it wrote."""
    SequentialRunner().run(create_pipeline(), make_catalog(tmp_path, params))
    return read_summary(tmp_path)


def read_summary(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "summary.json").read_text())


def serve_healthy_pools(api: FakeYieldsApi, n: int, n_points: int = 3) -> list[dict[str, Any]]:
    """``n`` pools p0..p{n-1}, largest TVL first, each with an ``n_points``-day history."""
    pools = [pool_object(f"p{i}", tvl=10_000_000 - i * 100_000) for i in range(n)]
    api.script("/pools", ok(pools))
    for i in range(n):
        api.script(f"/chart/p{i}", ok(chart_points(n_points, apy0=float(i))))
    return pools


def chart_paths(api: FakeYieldsApi) -> list[str]:
    return [path for path in api.paths() if path.startswith("/chart/")]
