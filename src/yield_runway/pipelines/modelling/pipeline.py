"""The modelling pipeline: labels, purged evaluation, calibrated champion, serving artefacts."""

from kedro.pipeline import Node, Pipeline

from yield_runway.serving.release import SERVING_PARAMETER_INPUTS, serving_parameters

from .export import build_model_release
from .model_report import write_model_report
from .nodes import (
    build_feature_reference,
    build_model_input,
    compute_feature_importance,
    compute_metrics,
    cross_validate_models,
    fit_calibrators,
    fit_development_models,
    make_evaluation_splits,
    predict_holdout,
    refit_served_model,
    select_champion,
)
from .reporting import (
    plot_calibration,
    plot_feature_importance,
    plot_roc_curves,
    report_metrics_table,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Create the modelling pipeline."""
    evaluation = Pipeline(
        [
            Node(
                build_model_input,
                inputs=[
                    "pool_features",
                    "feature_list",
                    "params:target",
                    "params:served_population",
                ],
                outputs="model_input_table",
                name="build_model_input",
            ),
            Node(
                make_evaluation_splits,
                inputs=["model_input_table", "params:split", "params:target", "params:models"],
                outputs="evaluation_splits",
                name="make_evaluation_splits",
            ),
            Node(
                cross_validate_models,
                inputs=[
                    "model_input_table",
                    "evaluation_splits",
                    "feature_list",
                    "params:models",
                    "params:calibration",
                ],
                outputs=["cv_results", "cv_predictions"],
                name="cross_validate_models",
            ),
            Node(
                select_champion,
                inputs=["cv_results", "params:selection"],
                outputs="champion_name",
                name="select_champion",
            ),
            Node(
                fit_development_models,
                inputs=["model_input_table", "evaluation_splits", "feature_list", "params:models"],
                outputs="development_models",
                name="fit_development_models",
            ),
            Node(
                fit_calibrators,
                inputs=[
                    "cv_predictions",
                    "evaluation_splits",
                    "champion_name",
                    "params:legacy_model",
                    "params:models",
                    "params:calibration",
                ],
                outputs=["calibrators", "calibration_selection"],
                name="fit_calibrators",
            ),
            Node(
                predict_holdout,
                inputs=[
                    "model_input_table",
                    "evaluation_splits",
                    "feature_list",
                    "development_models",
                    "champion_name",
                    "params:legacy_model",
                    "calibrators",
                ],
                outputs="holdout_predictions",
                name="predict_holdout",
            ),
            Node(
                compute_metrics,
                inputs=[
                    "cv_results",
                    "holdout_predictions",
                    "evaluation_splits",
                    "development_models",
                    "model_input_table",
                    "champion_name",
                    "params:legacy_model",
                    "calibration_selection",
                    "params:target",
                    "params:calibration",
                ],
                outputs="metrics",
                name="compute_metrics",
            ),
        ],
        tags="evaluation",
    )
    serving = Pipeline(
        [
            Node(
                refit_served_model,
                inputs=[
                    "model_input_table",
                    "feature_list",
                    "params:models",
                    "champion_name",
                    "calibrators",
                ],
                outputs="champion_model",
                name="refit_champion",
            ),
            Node(
                refit_served_model,
                inputs=[
                    "model_input_table",
                    "feature_list",
                    "params:models",
                    "params:legacy_model",
                    "calibrators",
                ],
                outputs="legacy_model",
                name="refit_legacy_model",
            ),
            Node(
                serving_parameters,
                inputs=SERVING_PARAMETER_INPUTS,
                outputs="serving_parameters",
                name="collect_serving_parameters",
            ),
            Node(
                build_model_release,
                inputs=[
                    "champion_model",
                    "legacy_model",
                    "champion_name",
                    "params:legacy_model",
                    "feature_list",
                    "categorical_mapping",
                    "observation_limits",
                    "market_universe",
                    "model_input_table",
                    "evaluation_splits",
                    "history_summary",
                    "serving_parameters",
                    "params:release",
                ],
                outputs="model_release",
                name="build_model_release",
            ),
            Node(
                build_feature_reference,
                inputs=["pool_features", "feature_list"],
                outputs="feature_reference",
                name="build_feature_reference",
            ),
        ],
        tags="serving_artefacts",
    )
    reporting = Pipeline(
        [
            Node(
                report_metrics_table,
                inputs="metrics",
                outputs="metrics_table",
                name="report_metrics_table",
            ),
            Node(
                plot_roc_curves,
                inputs=["holdout_predictions", "metrics"],
                outputs="roc_curves_plot",
                name="plot_roc_curves",
            ),
            Node(
                plot_calibration,
                inputs=["holdout_predictions", "metrics", "params:calibration"],
                outputs="calibration_plot",
                name="plot_calibration",
            ),
            Node(
                compute_feature_importance,
                inputs=[
                    "model_input_table",
                    "evaluation_splits",
                    "feature_list",
                    "development_models",
                    "champion_name",
                    "params:feature_importance",
                ],
                outputs="feature_importance",
                name="compute_feature_importance",
            ),
            Node(
                plot_feature_importance,
                inputs=["feature_importance", "metrics", "params:feature_importance"],
                outputs="feature_importance_plot",
                name="plot_feature_importance",
            ),
            Node(
                write_model_report,
                inputs=[
                    "metrics",
                    "cleaning_report",
                    "pools_daily@pandas",
                    "model_input_table",
                    "feature_importance",
                    "params:feature_importance",
                ],
                outputs="model_report",
                name="write_model_report",
            ),
        ],
        tags="reporting",
    )
    return Pipeline([evaluation, serving, reporting], tags=["modelling", "training"])
