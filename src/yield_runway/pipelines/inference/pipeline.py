"""The inference pipeline: hourly snapshot + feature state + champion -> predictions + state."""

from kedro.pipeline import Node, Pipeline

from yield_runway.features.hourly import compute_serving_features
from yield_runway.predictions import score_pools
from yield_runway.serving.release import SERVING_PARAMETER_INPUTS, serving_parameters

from .nodes import (
    advance_feature_state,
    build_hourly_partition,
    commit_feature_state,
    enrich_snapshot,
    parse_pools_snapshot,
    publish_latest,
    resolve_run_timestamp,
    summarise_market_context,
    summarise_run,
    unpack_release,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Create the inference pipeline."""
    return Pipeline(
        [
            Node(
                serving_parameters,
                inputs=SERVING_PARAMETER_INPUTS,
                outputs="conf_serving_parameters",
                name="collect_conf_parameters",
            ),
            Node(
                unpack_release,
                inputs=["model_release", "conf_serving_parameters"],
                outputs=[
                    "served_champion_model",
                    "served_feature_list",
                    "served_categorical_mapping",
                    "served_observation_limits",
                    "served_market_universe",
                ],
                name="unpack_release",
            ),
            Node(
                resolve_run_timestamp,
                inputs="params:inference_run_timestamp",
                outputs="inference_run_timestamp",
                name="resolve_run_timestamp",
            ),
            Node(
                parse_pools_snapshot,
                inputs=["pools_snapshot", "params:data_engineering", "served_observation_limits"],
                outputs=["snapshot_rows", "snapshot_report"],
                name="parse_pools_snapshot",
            ),
            Node(
                advance_feature_state,
                inputs=[
                    "feature_state",
                    "snapshot_rows",
                    "inference_run_timestamp",
                    "params:feature_engineering",
                    "params:data_engineering.daily_aggregation",
                ],
                outputs="feature_state_advanced",
                name="advance_feature_state",
            ),
            Node(
                compute_serving_features,
                inputs=[
                    "feature_state_advanced",
                    "snapshot_rows",
                    "inference_run_timestamp",
                    "served_categorical_mapping",
                    "params:feature_engineering",
                    "params:target",
                    "served_market_universe",
                ],
                outputs="serving_features",
                name="compute_serving_features",
            ),
            Node(
                summarise_market_context,
                inputs=["serving_features", "served_market_universe", "params:feature_engineering"],
                outputs="market_context_run",
                name="summarise_market_context",
            ),
            Node(
                score_pools,
                inputs=[
                    "serving_features",
                    "served_champion_model",
                    "served_feature_list",
                    "params:served_population",
                    "params:inference",
                ],
                outputs="scored_pools",
                name="score_pools",
            ),
            Node(
                build_hourly_partition,
                inputs=[
                    "scored_pools",
                    "inference_run_timestamp",
                    "served_feature_list",
                    "params:inference",
                ],
                outputs="hourly_predictions",
                name="build_hourly_partition",
            ),
            Node(
                enrich_snapshot,
                inputs=[
                    "pools_snapshot",
                    "scored_pools",
                    "inference_run_timestamp",
                    "served_feature_list",
                    "params:inference",
                ],
                outputs=["enriched_snapshot", "dataEnriched_hourly"],
                name="enrich_snapshot",
            ),
            # Outputs first, the state last, the latest copies after it: a run killed anywhere
            # leaves either the previous hour's state and copies or this hour's, never a mix
            # that refuses the retry.
            Node(
                commit_feature_state,
                inputs=[
                    "feature_state_advanced",
                    "hourly_predictions",
                    "dataEnriched_hourly",
                    "inference_run_timestamp",
                    "params:inference",
                ],
                outputs=["feature_state_updated", "committed_run"],
                name="commit_feature_state",
            ),
            Node(
                publish_latest,
                inputs=[
                    "enriched_snapshot",
                    "market_context_run",
                    "market_context",
                    "committed_run",
                    "feature_state_updated",
                    "inference_run_timestamp",
                ],
                outputs=[
                    "dataEnriched_latest",
                    "market_context_latest",
                    "serving_feature_state_latest",
                ],
                name="publish_latest",
            ),
            Node(
                summarise_run,
                inputs=["scored_pools", "snapshot_report", "inference_run_timestamp"],
                outputs="inference_summary",
                name="summarise_run",
            ),
        ],
        tags=["inference"],
    )
