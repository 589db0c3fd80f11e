"""The convex rebalancer: expected yield over a holding horizon minus costs, under limits."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import cvxpy as cp
import numpy as np
import pandas as pd

from .strategies import Decide

log = logging.getLogger(__name__)


def expected_apy(day: pd.DataFrame, use_runway: bool) -> tuple[np.ndarray, np.ndarray]:
    """Expected base and reward APY per pool: the forecast split by today's reward share."""
    reward_share = (day["apyReward"].fillna(0.0) / day["apy"]).clip(0.0, 1.0).to_numpy()
    expected = day["forecast"].to_numpy(float)
    if use_runway:
        expected = expected * day["p_stable_up"].to_numpy(float)
    return expected * (1.0 - reward_share), expected * reward_share


def solve_weights(
    base: np.ndarray,
    reward: np.ndarray,
    tvl_share: np.ndarray,
    current: np.ndarray,
    params: Mapping[str, Any],
    costs: Mapping[str, Any],
) -> np.ndarray | None:
    """Weights maximising expected yield net of proportional costs; None if the solve fails.

    `tvl_share` is each pool's TVL in units of our equity, so a weight x earns reward APY
    reward * T / (T + x): diluted by our own deposit.
    """
    n = len(base)
    x = cp.Variable(n, nonneg=True)
    horizon = float(params["holding_days"]) / 365.0 / 100.0  # APY in percent, over the horizon
    keep = 1.0 - float(costs["reward_haircut"])
    # Exact and DCP: x T / (T + x) = x - x^2 / (T + x), and quad_over_lin(x, T + x) is convex
    # (jointly in its arguments, T + x affine), so reward * (x - quad_over_lin) is concave for
    # reward >= 0. This form avoids the cancellation of T - T^2 / (T + x) when T >> x.
    rewarded = np.flatnonzero(reward > 0)
    diluted = [cp.quad_over_lin(x[i], tvl_share[i] + x[i]) * reward[i] for i in rewarded]
    reward_yield = reward @ x - (cp.sum(cp.hstack(diluted)) if diluted else 0.0)
    objective = horizon * (base @ x + keep * reward_yield)
    # The fixed cost per trade is a count of trades (not convex): it is charged by the
    # accounting, and the optimiser's min_weight keeps it from opening dust positions.
    objective -= float(costs["cost_bps"]) / 1e4 * cp.norm1(x - current)
    constraints = [
        cp.sum(x) <= 1.0,
        x <= float(params["max_weight"]),
        x <= float(params["tvl_share_cap"]) * tvl_share,
    ]
    problem = cp.Problem(cp.Maximize(objective), constraints)
    try:
        problem.solve(solver=cp.CLARABEL)
    except cp.SolverError as error:
        log.warning("optimiser: solver failed (%s); positions kept", error)
        return None
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or x.value is None:
        log.warning("optimiser: status %s; positions kept", problem.status)
        return None
    weights = np.clip(x.value, 0.0, None)
    # Positions too small to be worth a trade's fixed cost (and solver noise) are not taken.
    return np.where(weights >= float(params["min_weight"]), weights, 0.0)


def convex_optimiser(
    params: Mapping[str, Any], costs: Mapping[str, Any], n_pools: int, use_runway: bool
) -> Decide:
    """The rebalancer over the day's best candidates by expected APY and the pools held."""

    def decide(day: pd.DataFrame, current: np.ndarray, equity: float) -> np.ndarray:
        base, reward = expected_apy(day, use_runway)
        held = current[day["column"].to_numpy()] > 0
        # The best candidates by expected APY, and every eligible pool held (to weigh selling it).
        rank = np.argsort(-(base + reward), kind="stable")
        chosen = np.zeros(len(day), dtype=bool)
        chosen[rank[: int(params["candidates"])]] = True
        chosen |= held
        columns = day["column"].to_numpy()[chosen]
        tvl_share = day["tvlUsd"].to_numpy(float)[chosen] / equity
        solved = solve_weights(
            base[chosen], reward[chosen], tvl_share, current[columns], params, costs
        )
        if solved is None:
            return current.copy()
        weights = np.zeros(n_pools)
        weights[columns] = solved
        return weights

    return decide
