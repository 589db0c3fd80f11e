"""The data_engineering pipeline: raw history -> distinct snapshots -> pool-days -> daily grid.

Its nodes build Ibis expressions; the catalog's connection decides the engine that runs them.
"""

from kedro.pipeline import Node, Pipeline

from yield_runway.features.snapshot import extract_pool_metadata

from .nodes import (
    build_daily_grid,
    check_history_growth,
    derive_observation_limits,
    malformed_rows,
    read_snapshots,
    reduce_to_days,
    summarise_cleaning,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Create the data_engineering pipeline."""
    return Pipeline(
        [
            Node(
                read_snapshots,
                inputs=["pools_history@ibis", "params:data_engineering"],
                outputs="snapshot_readings",
                name="read_snapshots",
            ),
            Node(
                malformed_rows,
                inputs="snapshot_readings",
                outputs="malformed_history_rows",
                name="malformed_rows",
            ),
            Node(
                summarise_cleaning,
                inputs=["snapshot_readings", "malformed_history_rows", "params:data_engineering"],
                outputs="cleaning_report_reduced",
                name="summarise_cleaning",
            ),
            Node(
                reduce_to_days,
                inputs=["snapshot_readings", "cleaning_report_reduced", "params:data_engineering"],
                outputs="pools_daily_reduced",
                name="reduce_to_days",
            ),
            # A gate: no report, limits or grid is written from a history that lost pools
            # against the last one trained on.
            Node(
                check_history_growth,
                inputs=[
                    "pools_daily_reduced",
                    "cleaning_report_reduced",
                    "trained_history",
                    "params:data_engineering",
                ],
                outputs=["pools_daily_observed", "cleaning_report", "history_summary"],
                name="check_history_growth",
            ),
            Node(
                derive_observation_limits,
                inputs=["cleaning_report", "params:data_engineering"],
                outputs="observation_limits",
                name="derive_observation_limits",
            ),
            Node(
                extract_pool_metadata,
                inputs=["pools_snapshot", "params:data_engineering"],
                outputs="pool_metadata",
                name="extract_pool_metadata",
            ),
            Node(
                build_daily_grid,
                inputs=["pools_daily_observed", "pool_metadata"],
                outputs="pools_daily@ibis",
                name="build_daily_grid",
            ),
        ],
        tags=["data_engineering", "training"],
    )
