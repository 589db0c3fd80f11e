"""The accounting on a two-pool case computed by hand: returns, costs, dilution, a dead pool."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yield_runway.pipelines.backtest.accounting import (
    Panel,
    block_bootstrap_mean,
    daily_yield,
    max_drawdown,
    rebalance,
    simulate,
)

COSTS = {
    "capital_usd": 1000.0,
    "cost_bps": 100.0,  # 1% of turnover
    "fixed_cost_usd": 1.0,
    "reward_haircut": 0.5,
    "no_trade_band": 0.0,
    "accrual": "simple",  # APY / 365 a day: round numbers by hand
}


def _two_pools() -> Panel:
    """A: base 365% APY (1% a day), stops reporting on day 2. B: reward 730%, TVL $1,000."""
    nan = np.nan
    return Panel(
        dates=pd.date_range("2025-01-01", periods=3, freq="D"),
        pools=pd.Index(["A", "B"]),
        base=np.array([[365.0, 0.0], [365.0, 0.0], [nan, 0.0]]),
        reward=np.array([[0.0, 730.0], [0.0, 730.0], [nan, 730.0]]),
        tvl=np.array([[1e6, 1000.0], [1e6, 1000.0], [nan, 1000.0]]),
    )


def test_reward_apy_is_diluted_by_our_position_and_haircut():
    # 730% x (1 - 0.5) x 1000 / (1000 + 1000) = 182.5% APY = 0.5% a day as a rate.
    one = [np.array([v]) for v in (0.0, 730.0, 1000.0, 1000.0)]
    assert daily_yield(*one, 0.5, "simple") == pytest.approx([0.005])
    # Compounded: a day earns (1 + 1.825)^(1/365) - 1, less than the rate's share.
    assert daily_yield(*one, 0.5, "compound") == pytest.approx([2.825 ** (1 / 365) - 1])
    # A pool that does not report earns nothing; one with no TVL figure is not diluted.
    dead = [np.array([np.nan]), np.array([np.nan]), np.array([np.nan]), np.array([5.0])]
    assert daily_yield(*dead, 0.5, "simple")[0] == 0.0
    no_tvl = [np.array([36.5]), np.array([73.0]), np.array([np.nan]), np.array([5.0])]
    assert daily_yield(*no_tvl, 0.5, "simple")[0] == pytest.approx((0.365 + 0.365) / 365)


def test_two_pool_backtest_by_hand():
    panel = _two_pools()
    dates = list(panel.dates)
    universe = pd.DataFrame({"date": dates[:2], "pool": ["A", "A"], "column": [0, 0]})
    plan = {dates[0]: np.array([0.5, 0.5]), dates[1]: np.array([1.0, 0.0])}

    def decide(day, current, equity):
        return plan[day["date"].iloc[0]]

    daily, positions = simulate(panel, universe, dates[:2], decide, COSTS)
    # Day 0: x invested, half each, pays 1% of x plus 2 trades x $1: x + 0.01 x + 2 = 1000.
    x0 = 998 / 1.01
    assert daily["turnover"][0] == pytest.approx(x0)
    assert daily["costs"][0] == pytest.approx(0.01 * x0 + 2)
    assert daily["trades"][0] == 2
    assert daily["equity"][0] == pytest.approx(x0)
    # Day 1: A earns 365% / 365 = 1%. B's 730% reward, halved, diluted by our x0 / 2 in $1,000.
    a1 = x0 / 2 * 1.01
    b1 = x0 / 2 * (1 + 7.30 * 0.5 * 1000 / (1000 + x0 / 2) / 365)
    equity = 1000 - (0.01 * x0 + 2) - x0 + a1 + b1
    # Everything into A: buy x - a1 of A, sell b1 of B: x = equity - 0.01 (x - a1 + b1) - 2.
    x1 = (equity + 0.01 * a1 - 0.01 * b1 - 2) / 1.01
    assert daily["turnover"][1] == pytest.approx(x1 - a1 + b1)
    assert daily["costs"][1] == pytest.approx(0.01 * (x1 - a1 + b1) + 2)
    assert daily["equity"][1] == pytest.approx(equity - 0.01 * (x1 - a1 + b1) - 2)
    held = positions.loc[positions["date"] == dates[1]].set_index("pool")["weight"]
    assert held.to_dict() == pytest.approx({"A": x1 / equity})
    # Day 2: A stopped reporting: no yield, capital kept (sold at the next rebalance).
    assert daily["equity"][2] == pytest.approx(daily["equity"][1])
    assert daily["rebalance"].tolist() == [True, True, False]


def test_a_position_within_the_band_is_not_traded_and_drift_is_not_borrowed():
    costs = {**COSTS, "no_trade_band": 0.02}
    positions = np.array([505.0, 495.0])  # drifted 0.5% from 50/50
    new, paid, turnover, trades = rebalance(positions, 1000.0, np.array([0.5, 0.5]), costs)
    assert trades == 0 and paid == 0.0 and turnover == 0.0
    assert new.tolist() == [505.0, 495.0]
    # Selling B for a new pool C: A stays (within the band), C gets its half of what the costs
    # leave, c = 0.5 (1000 - 0.01 (495 + c) - 2) ...
    positions = np.array([505.0, 495.0, 0.0])
    new, paid, turnover, trades = rebalance(positions, 1000.0, np.array([0.5, 0.0, 0.5]), costs)
    assert trades == 2 and new[0] == 505.0 and new[1] == 0.0
    c = 0.5 * (1000 - 4.95 - 2) / 1.005
    # ... but A's drift leaves less than that: C's buy shrinks until the book fits, no borrowing.
    over = 505 + c + 0.01 * (495 + c) + 2 - 1000
    assert new[2] == pytest.approx(c - over)
    assert paid == pytest.approx(0.01 * (495 + c - over) + 2)
    assert new.sum() + paid <= 1000.0


def test_block_bootstrap_and_drawdown():
    constant = np.full(50, 0.001)
    assert np.allclose(block_bootstrap_mean(constant, 7, 100, 0), 0.001)
    noisy = np.random.default_rng(1).normal(0.001, 0.01, 400)
    means = block_bootstrap_mean(noisy, 14, 500, 0)
    assert means.shape == (500,) and abs(means.mean() - noisy.mean()) < 0.001
    assert max_drawdown(pd.Series([1.0, 1.2, 0.9, 1.3])) == pytest.approx(0.9 / 1.2 - 1.0)
