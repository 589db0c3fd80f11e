"""The data_engineering pipeline: raw history (streamed) -> observed pool-days -> daily grid."""

from kedro.pipeline import Node, Pipeline

from yield_runway.features.snapshot import extract_pool_metadata

from .nodes import (
    build_daily_grid,
    check_history_growth,
    derive_observation_limits,
    reduce_pools_history,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Create the data_engineering pipeline."""
    return Pipeline(
        [
            Node(
                reduce_pools_history,
                inputs=["pools_history", "params:data_engineering"],
                outputs=["pools_daily_reduced", "cleaning_report_reduced"],
                name="reduce_pools_history",
            ),
            # A gate: nothing is written from a history that lost pools against the last one trained
            # on (its report and limits included).
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
                outputs="pools_daily",
                name="build_daily_grid",
            ),
        ],
        tags=["data_engineering", "training"],
    )
