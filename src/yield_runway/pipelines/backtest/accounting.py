"""Portfolio accounting: realised daily yield with our own dilution, rebalancing costs, metrics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .strategies import Decide

DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class Panel:
    """Realised daily values by (day, pool); NaN where a pool did not report that day."""

    dates: pd.DatetimeIndex
    pools: pd.Index
    base: np.ndarray
    reward: np.ndarray
    tvl: np.ndarray


def build_panel(pools_daily: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> Panel:
    """The realised APY split (base, reward) and TVL of every pool on every day of [start, end]."""
    daily = pools_daily.assign(date=pd.to_datetime(pools_daily["date"]))
    daily = daily.loc[daily["date"].between(start, end) & daily["apy"].notna()]
    reward = daily["apyReward"].fillna(0.0).clip(lower=0.0)
    # apyBase is missing on some rows: the base part is then what the reward leaves of the APY.
    base = daily["apyBase"].fillna(daily["apy"] - reward).clip(lower=0.0)
    values = pd.DataFrame(
        {
            "date": daily["date"],
            "pool": daily["pool"],
            "base": base,
            "reward": reward,
            "tvl": daily["tvlUsd"],
        }
    )
    dates = pd.date_range(start, end, freq="D")
    pools = pd.Index(sorted(pools_daily["pool"].unique()), name="pool")
    wide = values.pivot_table(index="date", columns="pool", values=["base", "reward", "tvl"])
    wide = wide.reindex(index=dates)

    def grid(name: str) -> np.ndarray:
        return wide[name].reindex(columns=pools).to_numpy(float)

    return Panel(dates, pools, grid("base"), grid("reward"), grid("tvl"))


def daily_yield(
    base: np.ndarray,
    reward: np.ndarray,
    tvl: np.ndarray,
    position: np.ndarray,
    haircut: float,
    accrual: str = "compound",
) -> np.ndarray:
    """Each position's return over one day: base APY plus haircut reward APY diluted by it.

    `compound`: an APY is a compounded annual yield, so a day earns (1 + APY)^(1/365) - 1;
    `simple` treats it as a rate and earns APY / 365 (more, the higher the APY).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        # A day with no TVL figure: our deposit's share of the pool is unknown, so undiluted.
        diluted = np.where(np.isfinite(tvl), reward * tvl / (tvl + position), reward)
    apy = base + (1.0 - haircut) * diluted
    # A pool that did not report (dead, paused, delisted) earns nothing until it is sold.
    apy = np.where(np.isfinite(apy), apy, 0.0) / 100.0
    if accrual == "simple":
        return apy / DAYS_PER_YEAR
    if accrual != "compound":
        raise ValueError(f"accrual must be compound or simple, not {accrual!r}")
    return np.expm1(np.log1p(apy) / DAYS_PER_YEAR)


def rebalance(
    positions: np.ndarray, equity: float, weights: np.ndarray, costs: Mapping[str, Any]
) -> tuple[np.ndarray, float, float, int]:
    """New positions, costs paid, turnover and trades when moving to `weights` of equity.

    A held position within the no-trade band of its target is left alone (no fixed cost for
    drift); every other pool moves to its weight of the equity left after the costs, so no pool
    exceeds its weight. When kept positions drifted up, buys shrink: nothing is borrowed.
    """
    band = float(costs["no_trade_band"]) * equity
    rate = float(costs["cost_bps"]) / 1e4
    fixed = float(costs["fixed_cost_usd"])

    def paid_for(target: np.ndarray) -> tuple[float, float, int]:
        trades = target - positions
        turnover = float(np.abs(trades).sum())
        count = int(np.count_nonzero(trades))
        return rate * turnover + fixed * count, turnover, count

    investable, target = equity, positions
    # Costs depend on the targets and the targets on what the costs leave: a few passes settle.
    for _ in range(4):
        target = weights * investable
        kept = (positions > 0) & (target > 0) & (np.abs(target - positions) < band)
        target = np.where(kept, positions, target)
        investable = equity - paid_for(target)[0]
    paid, turnover, count = paid_for(target)
    over = target.sum() + paid - equity
    buys = np.clip(target - positions, 0.0, None)
    if over > 0 and buys.sum() > 0:
        # Smaller buys cost less, so the book then fits in equity less its costs.
        target = target - buys * min(1.0, over / buys.sum())
        paid, turnover, count = paid_for(target)
    return target, paid, turnover, count


def simulate(
    panel: Panel,
    universe: pd.DataFrame,
    rebalance_dates: list[pd.Timestamp],
    decide: Decide,
    costs: Mapping[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily equity, costs and turnover of one strategy, and its positions after each rebalance.

    Day d's decision uses what is known at its end (its APY, TVL, scores); its positions earn
    from day d+1. Positions are dollars, so our dilution of a pool's reward APY is in dollars.
    """
    n = len(panel.pools)
    positions = np.zeros(n)
    cash = float(costs["capital_usd"])
    haircut = float(costs["reward_haircut"])
    accrual = str(costs["accrual"])
    by_date = dict(iter(universe.groupby("date", sort=True)))
    rebalancing = set(rebalance_dates)
    days, held = [], []
    for t, date in enumerate(panel.dates):
        growth = daily_yield(
            panel.base[t], panel.reward[t], panel.tvl[t], positions, haircut, accrual
        )
        positions = positions * (1.0 + growth)
        paid = turnover = 0.0
        trades = 0
        if date in rebalancing:
            equity = cash + positions.sum()
            weights = decide(by_date[date], positions / equity, equity)
            new, paid, turnover, trades = rebalance(positions, equity, weights, costs)
            cash = equity - new.sum() - paid
            positions = new
            owned = np.flatnonzero(positions > 0)
            held.append(
                pd.DataFrame(
                    {"date": date, "pool": panel.pools[owned], "weight": positions[owned] / equity}
                )
            )
        days.append(
            {
                "date": date,
                "equity": cash + positions.sum(),
                "costs": paid,
                "turnover": turnover,
                "trades": trades,
                "rebalance": date in rebalancing,
            }
        )
    columns = ["date", "pool", "weight"]
    positions_log = pd.concat(held, ignore_index=True) if held else pd.DataFrame(columns=columns)
    return pd.DataFrame(days), positions_log


def block_bootstrap_mean(values: np.ndarray, block_days: int, n_boot: int, seed: int) -> np.ndarray:
    """Means of `n_boot` moving-block resamples of a daily series (blocks keep autocorrelation)."""
    n = len(values)
    block = max(1, min(block_days, n))
    n_blocks = int(np.ceil(n / block))
    starts = np.random.default_rng(seed).integers(0, n - block + 1, size=(n_boot, n_blocks))
    index = (starts[:, :, None] + np.arange(block)).reshape(n_boot, -1)[:, :n]
    return values[index].mean(axis=1)


def max_drawdown(equity: pd.Series) -> float:
    """The largest fall from a running peak, as a (negative) share of that peak."""
    return float((equity / equity.cummax() - 1.0).min())


def strategy_metrics(daily: pd.DataFrame, capital: float, risk_free_apy: float) -> dict[str, float]:
    """Total and annualised return, volatility, Sharpe, max drawdown, turnover, costs of one run."""
    equity = daily["equity"]
    returns = equity.pct_change().fillna(equity.iloc[0] / capital - 1.0)
    years = len(daily) / DAYS_PER_YEAR
    total = float(equity.iloc[-1] / capital - 1.0)
    volatility = float(returns.std(ddof=1) * np.sqrt(DAYS_PER_YEAR))
    excess = returns - risk_free_apy / 100.0 / DAYS_PER_YEAR
    sharpe = float(excess.mean() * DAYS_PER_YEAR / volatility) if volatility > 0 else float("nan")
    return {
        "total_return": total,
        "annualised_return": float((1.0 + total) ** (1.0 / years) - 1.0),
        "volatility": volatility,
        "sharpe": sharpe,
        "max_drawdown": max_drawdown(equity),
        "turnover_per_year": float(daily["turnover"].sum() / equity.mean() / years),
        "costs_share": float(daily["costs"].sum() / capital),
        "trades": int(daily["trades"].sum()),
    }
