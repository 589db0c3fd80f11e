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
    # 730% x (1 - 0.5) x 1000 / (1000 + 1000) = 182.5% APY = 0.5% a day.
    got = daily_yield(
        np.array([0.0]), np.array([730.0]), np.array([1000.0]), np.array([1000.0]), 0.5
    )
    assert got == pytest.approx([0.005])
    # A pool that does not report earns nothing.
    assert (
        daily_yield(
            np.array([np.nan]), np.array([np.nan]), np.array([np.nan]), np.array([5.0]), 0.5
        )[0]
        == 0.0
    )


def test_two_pool_backtest_by_hand():
    panel = _two_pools()
    dates = list(panel.dates)
    universe = pd.DataFrame({"date": dates[:2], "pool": ["A", "A"], "column": [0, 0]})
    plan = {dates[0]: np.array([0.5, 0.5]), dates[1]: np.array([1.0, 0.0])}

    def decide(day, current, equity):
        return plan[day["date"].iloc[0]]

    daily, positions = simulate(panel, universe, dates[:2], decide, COSTS)
    # Day 0: 1000 to invest. First pass: 1% of 1000 + 2 trades x $1 = 12, so 988 is invested
    # (494 each); the second pass prices those trades: 1% of 988 + 2 = 11.88; cash 0.12.
    assert daily["costs"][0] == pytest.approx(11.88)
    assert daily["turnover"][0] == pytest.approx(988.0)
    assert daily["trades"][0] == 2
    assert daily["equity"][0] == pytest.approx(988.12)
    # Day 1: A earns 1%: 494 x 1.01 = 498.94. B earns 730% x 0.5 x 1000 / (1000 + 494)
    # = 244.311% APY = 0.669344% a day: 494 x 1.00669344 = 497.306560.
    # Equity before trading: 0.12 + 498.94 + 497.306560 = 996.366560. Everything into A:
    # first pass costs 1% x (497.42656 + 497.30656) + 2 = 11.947331, so A's target is 984.419228;
    # traded 485.479228 + 497.306560 = 982.785788, costs 9.827858 + 2 = 11.827858.
    assert daily["turnover"][1] == pytest.approx(982.785788)
    assert daily["costs"][1] == pytest.approx(11.827858)
    assert daily["equity"][1] == pytest.approx(996.366560 - 11.827858)
    held = positions.loc[positions["date"] == dates[1]].set_index("pool")["weight"]
    assert held.to_dict() == pytest.approx({"A": 984.419228 / 996.366560})
    # Day 2: A stopped reporting: no yield, capital kept (sold at the next rebalance).
    assert daily["equity"][2] == pytest.approx(daily["equity"][1])
    assert daily["rebalance"].tolist() == [True, True, False]


def test_a_position_within_the_band_is_not_traded():
    costs = {**COSTS, "no_trade_band": 0.02}
    positions = np.array([505.0, 495.0])  # drifted 0.5% from 50/50
    new, paid, turnover, trades = rebalance(positions, 1000.0, np.array([0.5, 0.5]), costs)
    assert trades == 0 and paid == 0.0 and turnover == 0.0
    assert new.tolist() == [505.0, 495.0]
    # Selling B for a new pool C: A stays, C gets what is left of the book after costs.
    positions = np.array([505.0, 495.0, 0.0])
    new, paid, turnover, trades = rebalance(positions, 1000.0, np.array([0.5, 0.0, 0.5]), costs)
    assert trades == 2 and new[0] == 505.0 and new[1] == 0.0
    # First pass: C = 1000 - 505 = 495, costs 1% x 990 + 2 = 11.9. Second: C = 988.1 - 505,
    # costs 1% x (495 + 483.1) + 2 = 11.781; 0.119 stays in cash, none is borrowed.
    assert new[2] == pytest.approx(483.1) and paid == pytest.approx(11.781)


def test_block_bootstrap_and_drawdown():
    constant = np.full(50, 0.001)
    assert np.allclose(block_bootstrap_mean(constant, 7, 100, 0), 0.001)
    noisy = np.random.default_rng(1).normal(0.001, 0.01, 400)
    means = block_bootstrap_mean(noisy, 14, 500, 0)
    assert means.shape == (500,) and abs(means.mean() - noisy.mean()) < 0.001
    assert max_drawdown(pd.Series([1.0, 1.2, 0.9, 1.3])) == pytest.approx(0.9 / 1.2 - 1.0)
