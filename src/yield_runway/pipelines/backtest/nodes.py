"""Backtest nodes: the investable universe, every strategy's run, and their metrics with CIs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .accounting import (
    DAYS_PER_YEAR,
    block_bootstrap_mean,
    build_panel,
    simulate,
    strategy_metrics,
)
from .optimiser import convex_optimiser
from .strategies import rule_strategies

BENCHMARK = "highest_apy"


def build_backtest_universe(
    backtest_scores: pd.DataFrame,
    apy_forecasts: pd.DataFrame,
    pools_daily: pd.DataFrame,
    model_input_table: pd.DataFrame,
    params: Mapping[str, Any],
) -> pd.DataFrame:
    """The pools a strategy may buy each scored day: out-of-time score, forecast and market data."""
    daily = pools_daily[["pool", "date", "apy", "apyBase", "apyReward", "tvlUsd"]]
    served = model_input_table[["pool", "date", "served"]]
    keys = ["pool", "date"]
    universe = (
        backtest_scores.merge(apy_forecasts[[*keys, "forecast"]], on=keys, how="inner")
        .merge(daily.assign(date=pd.to_datetime(daily["date"])), on=keys, how="left")
        .merge(served.assign(date=pd.to_datetime(served["date"])), on=keys, how="left")
    )
    rules = params["universe"]
    eligible = (universe["apy"] > 0) & (universe["tvlUsd"] >= float(rules["min_tvl_usd"]))
    eligible &= universe["forecast"].notna() & universe["p_stable_up"].notna()
    if rules["served_only"]:
        # The signal is only published for the served population (apy > 0, >= 7 samples).
        eligible &= universe["served"].fillna(False).astype(bool)
    return universe.loc[eligible].sort_values(["date", "pool"], ignore_index=True)


def rebalance_dates(dates: pd.Series, every_days: int) -> list[pd.Timestamp]:
    """Scored days to rebalance on: the first, then the first scored day `every_days` after each."""
    chosen: list[pd.Timestamp] = []
    for date in sorted(pd.to_datetime(dates).unique()):
        # Days without scores (the purge gap before the holdout) are held through, not traded.
        if not chosen or (date - chosen[-1]).days >= every_days:
            chosen.append(pd.Timestamp(date))
    return chosen


def run_backtest(
    backtest_universe: pd.DataFrame,
    backtest_scores: pd.DataFrame,
    pools_daily: pd.DataFrame,
    params: Mapping[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every strategy's daily equity and its positions after each rebalance, with their scores."""
    if backtest_universe.empty:
        raise ValueError(
            "no pool is eligible on any scored day (apy > 0, TVL >= backtest.universe.min_tvl_usd,"
            " a score and a forecast): nothing to backtest"
        )
    dates = rebalance_dates(backtest_universe["date"], int(params["rebalance_every_days"]))
    end = pd.to_datetime(backtest_scores["date"]).max()
    panel = build_panel(pools_daily, dates[0], end)
    universe = backtest_universe.assign(column=panel.pools.get_indexer(backtest_universe["pool"]))
    n_pools = len(panel.pools)
    costs = params["costs"]
    strategies = rule_strategies(params, n_pools)
    strategies["optimiser"] = convex_optimiser(params["optimiser"], costs, n_pools, False)
    strategies["optimiser_runway"] = convex_optimiser(params["optimiser"], costs, n_pools, True)
    days, held = [], []
    for name in params["strategies"]:
        daily, positions = simulate(panel, universe, dates, strategies[name], costs)
        days.append(daily.assign(strategy=name))
        held.append(positions.assign(strategy=name))
    scores = backtest_scores[["pool", "date", "window", "train_end", "p_stable_up", "target"]]
    # Which model's score stood behind each position: the leakage test checks this table.
    positions = pd.concat(held, ignore_index=True).merge(scores, on=["pool", "date"], how="left")
    return pd.concat(days, ignore_index=True), positions


def _period_returns(daily: pd.DataFrame) -> pd.DataFrame:
    """Each strategy's return over each rebalance period (rebalance day to the next one)."""
    frame = daily.assign(period=daily.groupby("strategy")["rebalance"].cumsum())
    ends = frame.pivot_table(index="period", columns="strategy", values="equity", aggfunc="last")
    return ends.pct_change().iloc[1:]


def summarise_backtest(
    backtest_daily: pd.DataFrame,
    backtest_positions: pd.DataFrame,
    evaluation_splits: Mapping[str, Any],
    params: Mapping[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Metrics per strategy and the block-bootstrap CI of its excess return over highest-APY."""
    capital = float(params["costs"]["capital_usd"])
    boot = params["bootstrap"]
    equity = backtest_daily.pivot_table(
        index="date", columns="strategy", values="equity", aggfunc="first"
    )
    returns = equity.pct_change()
    returns.iloc[0] = equity.iloc[0] / capital - 1.0
    periods = _period_returns(backtest_daily)
    holdout = equity.loc[equity.index >= pd.Timestamp(evaluation_splits["holdout_start"])]
    labelled = backtest_positions.dropna(subset=["target"])
    # Capital-weighted share of positions whose pool did keep its APY (realised label 1).
    stable = labelled.assign(weighted=labelled["weight"] * labelled["target"])
    stable = stable.groupby(["strategy", "date"])[["weighted", "weight"]].sum()
    stable_share = (stable["weighted"] / stable["weight"]).groupby("strategy").mean()
    # Equity the evening before the holdout: its first rebalance's costs count in it.
    before = equity.loc[equity.index < pd.Timestamp(evaluation_splits["holdout_start"])]
    start = before.iloc[-1] if len(before) else pd.Series(capital, index=equity.columns)

    def excess_ci(name: str, other: str) -> tuple[float, float, float]:
        """Annualised mean daily excess return of `name` over `other` and its bootstrap CI."""
        excess = (returns[name] - returns[other]).to_numpy()
        means = block_bootstrap_mean(
            excess, int(boot["block_days"]), int(boot["n_boot"]), int(boot["seed"])
        )
        tail = (1.0 - float(boot["ci"])) / 2.0
        # Annualised arithmetic excess return: mean daily excess x 365.
        low, high = np.quantile(means, [tail, 1.0 - tail]) * DAYS_PER_YEAR
        return float(excess.mean() * DAYS_PER_YEAR), float(low), float(high)

    twins = dict(params["twins"])
    rows = []
    for name in params["strategies"]:
        row = {"strategy": name}
        row.update(
            strategy_metrics(
                backtest_daily.loc[backtest_daily["strategy"] == name].reset_index(drop=True),
                capital,
                float(params["risk_free_apy"]),
            )
        )
        row["hit_rate"] = float("nan")
        row["excess_vs_highest_apy"] = row["excess_ci_low"] = row["excess_ci_high"] = 0.0
        if name != BENCHMARK:
            # Share of rebalance periods in which the strategy out-earned highest-APY.
            row["hit_rate"] = float((periods[name] > periods[BENCHMARK]).mean())
            excess = excess_ci(name, BENCHMARK)
            row["excess_vs_highest_apy"], row["excess_ci_low"], row["excess_ci_high"] = excess
        # What P(Stable/Up) adds: the strategy against the same rule without it.
        twin = twins.get(name)
        row["twin"] = twin or ""
        row["excess_vs_twin"], row["twin_ci_low"], row["twin_ci_high"] = (
            excess_ci(name, twin) if twin in params["strategies"] else (np.nan,) * 3
        )
        row["stable_share"] = float(stable_share.get(name, float("nan")))
        row["holdout_annualised_return"] = float(
            (holdout[name].iloc[-1] / start[name]) ** (DAYS_PER_YEAR / len(holdout)) - 1.0
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    summary = {
        "start": f"{equity.index[0]:%Y-%m-%d}",
        "end": f"{equity.index[-1]:%Y-%m-%d}",
        "days": len(equity),
        "holdout_start": evaluation_splits["holdout_start"],
        "rebalances": int(
            backtest_daily.loc[backtest_daily["strategy"] == BENCHMARK, "rebalance"].sum()
        ),
        "benchmark": BENCHMARK,
        "ci": float(boot["ci"]),
        "strategies": table.set_index("strategy").to_dict(orient="index"),
    }
    return summary, table
