"""The feature_engineering pipeline: daily grid -> features per pool-day."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    build_feature_state,
    build_market_context,
    build_market_universe,
    build_serving_state,
    compute_pool_features,
    fit_categorical_mapping,
    list_features,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Create the feature_engineering pipeline."""
    return Pipeline(
        [
            Node(
                fit_categorical_mapping,
                inputs=["pools_daily@pandas", "params:feature_engineering"],
                outputs="categorical_mapping",
                name="fit_categorical_mapping",
            ),
            Node(
                compute_pool_features,
                inputs=[
                    "pools_daily@pandas",
                    "categorical_mapping",
                    "params:feature_engineering",
                    "params:target",
                ],
                outputs="pool_features",
                name="compute_pool_features",
            ),
            Node(
                list_features,
                inputs="params:feature_engineering",
                outputs="feature_list",
                name="list_features",
            ),
            Node(
                build_market_universe,
                inputs="pools_daily@pandas",
                outputs="market_universe",
                name="build_market_universe",
            ),
            Node(
                build_market_context,
                inputs=["pool_features", "params:feature_engineering"],
                outputs="market_context",
                name="build_market_context",
            ),
            Node(
                build_feature_state,
                inputs=["pools_daily@pandas", "params:feature_engineering"],
                outputs="feature_state",
                name="build_feature_state",
            ),
            Node(
                build_serving_state,
                inputs="feature_state",
                outputs="serving_feature_state",
                name="build_serving_state",
            ),
        ],
        tags=["feature_engineering", "training"],
    )
