"""The data_engineering pipeline: raw history -> clean snapshots -> daily grid per pool."""

from kedro.pipeline import Node, Pipeline

from .nodes import aggregate_daily, clean_pools_history, extract_pool_metadata


def create_pipeline(**kwargs) -> Pipeline:
    """Create the data_engineering pipeline."""
    return Pipeline(
        [
            Node(
                clean_pools_history,
                inputs=["pools_history", "params:data_engineering"],
                outputs=["pools_clean", "cleaning_report"],
                name="clean_pools_history",
            ),
            Node(
                extract_pool_metadata,
                inputs=["pools_snapshot", "params:data_engineering"],
                outputs="pool_metadata",
                name="extract_pool_metadata",
            ),
            Node(
                aggregate_daily,
                inputs=["pools_clean", "pool_metadata", "params:data_engineering"],
                outputs="pools_daily",
                name="aggregate_daily",
            ),
        ],
        tags=["data_engineering", "training"],
    )
