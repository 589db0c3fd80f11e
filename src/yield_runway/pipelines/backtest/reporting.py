"""Backtest report: equity curves, drawdowns and the strategy and forecast tables in Markdown."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

log = logging.getLogger(__name__)


def _equity(backtest_daily: pd.DataFrame, capital: float) -> pd.DataFrame:
    """Equity per strategy as a multiple of the starting capital, by date."""
    equity = backtest_daily.pivot_table(
        index="date", columns="strategy", values="equity", aggfunc="first"
    )
    return equity / capital


def plot_equity_curves(
    backtest_daily: pd.DataFrame, evaluation_splits: Mapping[str, Any], params: Mapping[str, Any]
) -> plt.Figure:
    """Equity curves of every strategy, with the holdout's start marked."""
    equity = _equity(backtest_daily, float(params["costs"]["capital_usd"]))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name in params["strategies"]:
        ax.plot(equity.index, equity[name], label=name, linewidth=1.3)
    ax.axvline(pd.Timestamp(evaluation_splits["holdout_start"]), color="grey", linestyle=":")
    ax.set_ylabel("equity / starting capital (after costs)")
    ax.set_title("Backtest on out-of-time scores (dotted: holdout starts)")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_drawdowns(backtest_daily: pd.DataFrame, params: Mapping[str, Any]) -> plt.Figure:
    """Drawdown from the running peak of every strategy."""
    equity = _equity(backtest_daily, float(params["costs"]["capital_usd"]))
    drawdown = equity / equity.cummax() - 1.0
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for name in params["strategies"]:
        ax.plot(drawdown.index, 100 * drawdown[name], label=name, linewidth=1.1)
    ax.set_ylabel("drawdown (%)")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def strategy_markdown(table: pd.DataFrame, ci: float) -> str:
    """The strategy table in Markdown, returns in percent."""
    header = (
        "| strategy | total return | annualised | holdout annualised | volatility | Sharpe | "
        f"max drawdown | turnover / yr | costs | hit rate | stable share | excess vs highest-APY "
        f"(annualised, {ci:.0%} CI) | excess vs the same rule without P ({ci:.0%} CI) |\n"
        + "|---" * 13
        + "|"
    )
    lines = [header]
    for row in table.itertuples():
        excess = (
            "benchmark"
            if row.strategy == "highest_apy"
            else f"{100 * row.excess_vs_highest_apy:+.2f} [{100 * row.excess_ci_low:+.2f}, "
            f"{100 * row.excess_ci_high:+.2f}]"
        )
        hit = "" if pd.isna(row.hit_rate) else f"{row.hit_rate:.2f}"
        # A CSV round trip reads an empty twin back as NaN.
        twin = (
            ""
            if not isinstance(row.twin, str) or not row.twin
            else f"{100 * row.excess_vs_twin:+.2f} [{100 * row.twin_ci_low:+.2f}, "
            f"{100 * row.twin_ci_high:+.2f}] vs {row.twin}"
        )
        lines.append(
            f"| {row.strategy} | {100 * row.total_return:.2f}% "
            f"| {100 * row.annualised_return:.2f}% "
            f"| {100 * row.holdout_annualised_return:.2f}% | {100 * row.volatility:.2f}% "
            f"| {row.sharpe:.1f} | {100 * row.max_drawdown:.2f}% | {row.turnover_per_year:.1f}x "
            f"| {100 * row.costs_share:.2f}% | {hit} | {row.stable_share:.2f} | {excess} "
            f"| {twin} |"
        )
    return "\n".join(lines)


def forecast_markdown(forecast_metrics: Mapping[str, Any]) -> str:
    """Forecast errors against persistence and the 30-day mean, per period, in Markdown."""
    lines = [
        "| period | rows | forecast MAE | forecast RMSE | forecast mean error | persistence MAE "
        "| persistence RMSE | 30-day mean MAE | 30-day mean RMSE |",
        "|---" * 9 + "|",
    ]
    for period, m in forecast_metrics.items():
        lines.append(
            f"| {period} | {m['rows']:,} "
            f"| {m['forecast']['mae']:.3f} | {m['forecast']['rmse']:.3f} "
            f"| {m['forecast']['bias']:+.3f} "
            f"| {m['persistence']['mae']:.3f} | {m['persistence']['rmse']:.3f} "
            f"| {m['mean_30d']['mae']:.3f} | {m['mean_30d']['rmse']:.3f} |"
        )
    return "\n".join(lines)


def write_backtest_report(
    backtest_table: pd.DataFrame,
    backtest_summary: Mapping[str, Any],
    apy_forecast_metrics: Mapping[str, Any],
    params: Mapping[str, Any],
) -> str:
    """The backtest report (Markdown); the tables are also logged at the end of the run."""
    costs = params["costs"]
    strategies = strategy_markdown(backtest_table, backtest_summary["ci"])
    forecast = forecast_markdown(apy_forecast_metrics)
    log.info("Backtest strategies (after costs):\n%s", strategies)
    log.info("APY forecast errors (APY points, out of time):\n%s", forecast)
    return "\n".join(
        [
            "# Backtest: does the runway signal pay?",
            "",
            f"Out-of-time scores only, {backtest_summary['start']}..{backtest_summary['end']} "
            f"({backtest_summary['days']} days, {backtest_summary['rebalances']} rebalances every "
            f"{params['rebalance_every_days']} days; holdout from "
            f"{backtest_summary['holdout_start']}). Capital ${costs['capital_usd']:,.0f}, "
            f"{costs['cost_bps']} bps of turnover plus ${costs['fixed_cost_usd']} per trade, "
            f"reward APY haircut {costs['reward_haircut']:.0%} and diluted by our own position.",
            "",
            "## Strategies",
            "",
            strategies,
            "",
            "![Equity curves](backtest_equity.png)",
            "",
            "![Drawdowns](backtest_drawdown.png)",
            "",
            "## APY forecast (forward median over the horizon), APY points",
            "",
            forecast,
            "",
        ]
    )
