"""The backtest pipeline: strategies that follow out-of-time scores, after costs and dilution."""

from kedro.pipeline import Node, Pipeline

from .forecast import evaluate_apy_forecast, forecast_forward_apy
from .nodes import build_backtest_universe, run_backtest, summarise_backtest
from .reporting import plot_drawdowns, plot_equity_curves, write_backtest_report
from .scores import collect_out_of_time_scores


def create_pipeline(**kwargs) -> Pipeline:
    """Create the backtest pipeline (run after training: it reads its out-of-time scores)."""
    return Pipeline(
        [
            Node(
                collect_out_of_time_scores,
                inputs=[
                    "cv_predictions",
                    "holdout_predictions",
                    "evaluation_splits",
                    "champion_name",
                ],
                outputs="backtest_scores",
                name="collect_out_of_time_scores",
            ),
            Node(
                forecast_forward_apy,
                inputs=["model_input_table", "evaluation_splits", "params:backtest.forecast"],
                outputs="apy_forecasts",
                name="forecast_forward_apy",
            ),
            Node(
                evaluate_apy_forecast,
                inputs="apy_forecasts",
                outputs="apy_forecast_metrics",
                name="evaluate_apy_forecast",
            ),
            Node(
                build_backtest_universe,
                inputs=[
                    "backtest_scores",
                    "apy_forecasts",
                    "pools_daily@pandas",
                    "model_input_table",
                    "params:backtest",
                ],
                outputs="backtest_universe",
                name="build_backtest_universe",
            ),
            Node(
                run_backtest,
                inputs=[
                    "backtest_universe",
                    "backtest_scores",
                    "pools_daily@pandas",
                    "params:backtest",
                ],
                outputs=["backtest_daily", "backtest_positions"],
                name="run_backtest",
            ),
            Node(
                summarise_backtest,
                inputs=[
                    "backtest_daily",
                    "backtest_positions",
                    "evaluation_splits",
                    "params:backtest",
                ],
                outputs=["backtest_summary", "backtest_table"],
                name="summarise_backtest",
            ),
            Node(
                plot_equity_curves,
                inputs=["backtest_daily", "evaluation_splits", "params:backtest"],
                outputs="backtest_equity_plot",
                name="plot_equity_curves",
            ),
            Node(
                plot_drawdowns,
                inputs=["backtest_daily", "params:backtest"],
                outputs="backtest_drawdown_plot",
                name="plot_drawdowns",
            ),
            Node(
                write_backtest_report,
                inputs=[
                    "backtest_table",
                    "backtest_summary",
                    "apy_forecast_metrics",
                    "params:backtest",
                ],
                outputs="backtest_report",
                name="write_backtest_report",
            ),
        ],
        tags="backtest",
    )
