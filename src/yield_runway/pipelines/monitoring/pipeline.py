"""The monitoring pipeline: feature drift of the latest hourly run, realised performance, alerts."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    collect_daily_predictions,
    compute_feature_drift,
    evaluate_realised_performance,
    load_current_run,
    send_monitoring_alerts,
)
from .reporting import plot_feature_drift, plot_realised_auc


def create_pipeline(**kwargs) -> Pipeline:
    """Create the monitoring pipeline."""
    drift = Pipeline(
        [
            Node(
                load_current_run,
                inputs=[
                    "monitoring_hourly_predictions",
                    "params:monitoring.drift",
                    # The run ids are the ones inference writes: one format, its parameter.
                    "params:inference.partition_format",
                ],
                outputs="monitoring_current_run",
                name="load_current_run",
            ),
            Node(
                compute_feature_drift,
                inputs=[
                    "feature_reference",
                    "monitoring_current_run",
                    "feature_list",
                    "params:monitoring.drift",
                ],
                outputs=["monitoring_drift_report", "monitoring_drift_summary"],
                name="compute_feature_drift",
            ),
            Node(
                plot_feature_drift,
                inputs=["monitoring_drift_report", "monitoring_drift_summary"],
                outputs="monitoring_drift_plot",
                name="plot_feature_drift",
            ),
        ],
        tags="drift",
    )
    performance = Pipeline(
        [
            Node(
                collect_daily_predictions,
                inputs=[
                    "monitoring_hourly_predictions",
                    "params:monitoring.realised",
                    "params:inference.partition_format",
                ],
                outputs="monitoring_daily_predictions",
                name="collect_daily_predictions",
            ),
            Node(
                evaluate_realised_performance,
                inputs=[
                    "monitoring_daily_predictions",
                    "params:target",
                    "params:monitoring.realised",
                ],
                outputs=[
                    "monitoring_realised_performance",
                    "monitoring_calibration_table",
                    "monitoring_realised_summary",
                ],
                name="evaluate_realised_performance",
            ),
            Node(
                plot_realised_auc,
                inputs=["monitoring_realised_performance", "params:monitoring.realised"],
                outputs="monitoring_realised_auc_plot",
                name="plot_realised_auc",
            ),
        ],
        tags="realised_performance",
    )
    alerting = Pipeline(
        [
            # Runs after the reports are saved: a failing webhook cannot lose them.
            Node(
                send_monitoring_alerts,
                inputs=[
                    "monitoring_drift_report",
                    "monitoring_drift_summary",
                    "monitoring_realised_summary",
                    "monitoring_webhook",
                    "params:monitoring.alerts",
                ],
                outputs="monitoring_alerts",
                name="send_monitoring_alerts",
            ),
        ],
        tags="alerts",
    )
    return Pipeline([drift, performance, alerting], tags="monitoring")
