"""What monitoring reports for a deliberately shifted snapshot, leaving every stored file alone.

Runs the `inference` pipeline on the project's snapshot with every APY field (apy, apyBase,
apyReward) multiplied by --apy-factor, and the drift step of `monitoring` on that run. The run's
outputs and the advanced feature state stay in memory: stored runs, the state and the reports
are not touched. --apy-factor 1 is the unshifted baseline. Prints the drift report as a table
and, with --json, writes it.

Usage (from the project root, after `kedro run --pipeline=training`):

    KEDRO_DISABLE_TELEMETRY=1 python scripts/drift_demo.py --apy-factor 1
    KEDRO_DISABLE_TELEMETRY=1 python scripts/drift_demo.py --apy-factor 3 --json /tmp/drift.json
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import MemoryDataset
from kedro.runner import SequentialRunner

from yield_runway.pipelines.monitoring.nodes import compute_feature_drift

APY_FIELDS = ("apy", "apyBase", "apyReward")


def shift_snapshot(snapshot: list[Any], factor: float) -> list[Any]:
    """The snapshot with every numeric APY field multiplied by `factor`."""
    return [
        {
            **item,
            **{
                k: item[k] * factor
                for k in APY_FIELDS
                if isinstance(item.get(k), int | float) and not isinstance(item.get(k), bool)
            },
        }
        if isinstance(item, dict)
        else item
        for item in snapshot
    ]


def run(root: Path, factor: float, at: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Inference on the shifted snapshot in memory, then its drift report and summary."""
    bootstrap_project(root)
    with KedroSession.create(
        project_path=root, runtime_params={"inference_run_timestamp": at}
    ) as session:
        context = session.load_context()
        catalog = context.catalog
        # Up to the hourly table: nothing is committed or published (and kept to be read here).
        inference = pipelines["inference"].to_nodes("build_hourly_partition")
        shifted = shift_snapshot(catalog.load("pools_snapshot"), factor)
        # Swapping datasets for in-memory ones is the point here: no "Replacing dataset" notes.
        logging.getLogger("kedro.io.data_catalog").setLevel(logging.ERROR)
        catalog["pools_snapshot"] = MemoryDataset(shifted)
        for name in inference.all_outputs():
            catalog[name] = MemoryDataset()
        SequentialRunner().run(inference, catalog)
        (table,) = catalog.load("hourly_predictions").values()
        return compute_feature_drift(
            catalog.load("feature_reference"),
            table,
            catalog.load("feature_list"),
            context.params["monitoring"]["drift"],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apy-factor", type=float, default=3.0)
    parser.add_argument("--at", default="2025-11-01T00:30:00Z", help="the run's time (UTC)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    report, summary = run(Path.cwd(), args.apy_factor, args.at)
    print(f"apy x {args.apy_factor:g}: {summary['n_current']} pools vs {summary['n_reference']}")
    print(f"{'feature':<26} {'value':>7} {'noise':>7} {'thresh':>6}  drifted")
    for entry in report:
        noise, value = entry["noise_floor"], entry["value"]
        print(
            f"{entry['feature']:<26} {'' if value is None else f'{value:.3f}':>7} "
            f"{'' if noise is None else f'{noise:.3f}':>7} {entry['threshold']:>6.2f}  "
            f"{'DRIFT' if entry['drifted'] else ''}"
        )
    print(f"drifted: {summary['drifted_features']}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "report": report}, default=str))


if __name__ == "__main__":
    main()
