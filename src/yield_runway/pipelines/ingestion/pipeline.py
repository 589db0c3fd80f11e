"""The ingestion pipeline: live DefiLlama yields API -> pools_history + pools_snapshot."""

from kedro.pipeline import Node, Pipeline

from yield_runway.pipelines.ingestion.nodes import (
    build_pools_history,
    check_failed_share,
    fetch_pool_charts,
    fetch_pools_snapshot,
    publish_snapshot,
    select_pools,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Fetch /pools and each selected pool's /chart into the training raw datasets."""
    return Pipeline(
        [
            Node(
                fetch_pools_snapshot,
                inputs="params:ingestion",
                outputs=["ingestion_snapshot", "ingestion_snapshot_stats"],
                name="fetch_pools_snapshot",
            ),
            Node(
                select_pools,
                inputs=["ingestion_snapshot", "params:ingestion.selection"],
                outputs="ingestion_selected_pools",
                name="select_pools",
            ),
            Node(
                fetch_pool_charts,
                inputs=[
                    "ingestion_selected_pools",
                    "ingestion_chart_store",
                    "ingestion_snapshot_stats",
                    "params:ingestion",
                ],
                outputs=["ingestion_pool_charts", "ingestion_summary"],
                name="fetch_pool_charts",
            ),
            Node(
                check_failed_share,
                inputs=[
                    "ingestion_summary",
                    "ingestion_pool_charts",
                    "params:ingestion.max_failed_share",
                ],
                outputs="ingestion_pool_charts_checked",
                name="check_failed_share",
            ),
            Node(
                build_pools_history,
                inputs=["ingestion_selected_pools", "ingestion_pool_charts_checked"],
                outputs="pools_history@pandas",
                name="build_pools_history",
            ),
            # The snapshot is written only once its history is: a failed ingestion leaves the
            # previous pair, never a new snapshot beside an old history.
            Node(
                publish_snapshot,
                inputs=["ingestion_snapshot", "pools_history@ibis"],
                outputs="pools_snapshot",
                name="publish_snapshot",
            ),
        ],
        tags="ingestion",
    )
