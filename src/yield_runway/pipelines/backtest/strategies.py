"""Rule strategies: target weights over the day's eligible pools (rows of the universe)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

# A decision: (the day's eligible pools, current weights by panel column, equity) -> weights.
Decide = Callable[[pd.DataFrame, np.ndarray, float], np.ndarray]


def _weights(
    day: pd.DataFrame, n_pools: int, chosen: pd.Index, value: pd.Series | None
) -> np.ndarray:
    """Weights by panel column: equal over `chosen`, or proportional to `value` on them."""
    weights = np.zeros(n_pools)
    if len(chosen) == 0:
        return weights
    raw = np.ones(len(chosen)) if value is None else value.loc[chosen].to_numpy(float)
    if raw.sum() <= 0:
        return weights
    weights[day.loc[chosen, "column"].to_numpy()] = raw / raw.sum()
    return weights


def highest_apy(top_n: int, n_pools: int) -> Decide:
    """Equal weights on the top-N pools by today's APY."""

    def decide(day: pd.DataFrame, current: np.ndarray, equity: float) -> np.ndarray:
        return _weights(day, n_pools, day.nlargest(top_n, "apy").index, None)

    return decide


def tvl_weighted(top_n: int, n_pools: int) -> Decide:
    """The top-N pools by TVL, weighted by TVL."""

    def decide(day: pd.DataFrame, current: np.ndarray, equity: float) -> np.ndarray:
        return _weights(day, n_pools, day.nlargest(top_n, "tvlUsd").index, day["tvlUsd"])

    return decide


def runway_filter(top_n: int, tau: float, n_pools: int) -> Decide:
    """Equal weights on the top-N pools by APY among those with P(Stable/Up) >= tau."""

    def decide(day: pd.DataFrame, current: np.ndarray, equity: float) -> np.ndarray:
        kept = day.loc[day["p_stable_up"] >= tau]
        return _weights(day, n_pools, kept.nlargest(top_n, "apy").index, None)

    return decide


def runway_weighted(top_n: int, n_pools: int) -> Decide:
    """The top-N pools by forecast APY x P(Stable/Up), weighted by it."""

    def decide(day: pd.DataFrame, current: np.ndarray, equity: float) -> np.ndarray:
        value = day["forecast"] * day["p_stable_up"]
        chosen = value.nlargest(top_n).index
        return _weights(day, n_pools, chosen, value)

    return decide


def forecast_weighted(top_n: int, n_pools: int) -> Decide:
    """The top-N pools by forecast APY, weighted by it: runway_weighted without P(Stable/Up)."""

    def decide(day: pd.DataFrame, current: np.ndarray, equity: float) -> np.ndarray:
        chosen = day["forecast"].nlargest(top_n).index
        return _weights(day, n_pools, chosen, day["forecast"])

    return decide


def rule_strategies(params: Mapping[str, Any], n_pools: int) -> dict[str, Decide]:
    """The rule strategies named in the parameters, by name."""
    top_n = int(params["top_n"])
    return {
        "highest_apy": highest_apy(top_n, n_pools),
        "tvl_weighted": tvl_weighted(top_n, n_pools),
        "runway_filter": runway_filter(top_n, float(params["tau"]), n_pools),
        "runway_weighted": runway_weighted(top_n, n_pools),
        "forecast_weighted": forecast_weighted(top_n, n_pools),
    }
