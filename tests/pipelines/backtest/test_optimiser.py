"""The convex rebalancer finds the optimum of a diluted reward by value, under its caps."""

from __future__ import annotations

import numpy as np
import pytest

from yield_runway.pipelines.backtest.optimiser import solve_weights

PARAMS = {"holding_days": 365, "max_weight": 1.0, "tvl_share_cap": 100.0, "min_weight": 0.02}
COSTS = {"cost_bps": 0.0, "reward_haircut": 0.0}


def test_dilution_sets_the_optimum():
    # Pool 0 pays 2% base; pool 1 a 4.5% reward on a TVL equal to our equity (T = 1), which our
    # weight x dilutes to 4.5 T / (T + x). Its marginal 4.5 T^2 / (T + x)^2 equals 2 at x = 0.5.
    weights = solve_weights(
        np.array([2.0, 0.0]), np.array([0.0, 4.5]), np.array([1e6, 1.0]), np.zeros(2), PARAMS, COSTS
    )
    assert weights == pytest.approx([0.5, 0.5], abs=1e-4)


def test_caps_and_costs_bind():
    # A 5% cap of a TVL twice our equity: pool 1 takes at most 0.1 of the book.
    capped = {**PARAMS, "tvl_share_cap": 0.05}
    weights = solve_weights(
        np.array([2.0, 9.0]), np.zeros(2), np.array([1e6, 2.0]), np.zeros(2), capped, COSTS
    )
    assert weights == pytest.approx([0.9, 0.1], abs=1e-4)
    # Costs of 10% of turnover against a 1-point gain over the horizon: stay where we are.
    costly = {"cost_bps": 1000.0, "reward_haircut": 0.0}
    weights = solve_weights(
        np.array([3.0, 4.0]),
        np.zeros(2),
        np.array([1e6, 1e6]),
        np.array([1.0, 0.0]),
        PARAMS,
        costly,
    )
    assert weights == pytest.approx([1.0, 0.0], abs=1e-4)
