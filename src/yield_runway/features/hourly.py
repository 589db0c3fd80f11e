"""Today's features of a snapshot's pools, from the feature state, through the training code."""

from __future__ import annotations

from typing import Any

import pandas as pd

from yield_runway.features import market, state


def compute_serving_features(
    feature_state_updated: pd.DataFrame,
    snapshot_rows: pd.DataFrame,
    run_timestamp: pd.Timestamp,
    categorical_mapping: dict[str, Any],
    params: dict[str, Any],
    target_params: dict[str, Any],
    market_universe: list[str] | None = None,
    market_context: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Every feature of today for each snapshot pool, through the training feature code.

    The market is the snapshot's own pools of the training universe, unless a stored market is
    given (an API request of a few pools is scored against the latest hourly run's market).
    """
    context = None if market_context is None else market.from_records(market_context)
    features = state.serving_features(
        feature_state_updated,
        snapshot_rows,
        run_timestamp,
        categorical_mapping,
        params,
        target_params,
        context,
        market_universe,
    )
    stale = state.stale_pools(feature_state_updated, run_timestamp)
    stale_pools = set(feature_state_updated.loc[stale, "pool"])
    return features.assign(
        snapshot_apy=snapshot_rows["apy"].to_numpy(dtype=float),
        stale_state=snapshot_rows["pool"].isin(stale_pools).to_numpy(bool),
    )
