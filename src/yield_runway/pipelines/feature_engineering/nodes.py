"""Nodes of the feature_engineering pipeline."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from yield_runway.features import daily, market, state

logger = logging.getLogger(__name__)


def fit_categorical_mapping(pools_daily: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """Build the chain and project codes in DefiLlama's `*_factorized` mapping shape."""
    mapping = daily.fit_categorical_mapping(pools_daily, params["categorical_columns"])
    logger.info("Categorical codes: %s", {k: len(v) for k, v in mapping.items()})
    return mapping


def compute_pool_features(
    pools_daily: pd.DataFrame,
    categorical_mapping: dict[str, Any],
    params: dict[str, Any],
    target_params: dict[str, Any],
) -> pd.DataFrame:
    """Compute every backward-looking feature for every pool-day of the daily grid."""
    ordered = pools_daily
    if not daily.in_pool_date_order(pools_daily):  # the daily grid is: no sort needed
        ordered = pools_daily.sort_values(["pool", "date"], kind="stable")
    return daily.build_features(
        ordered.reset_index(drop=True), categorical_mapping, params, target_params
    )


def list_features(params: dict[str, Any]) -> list[str]:
    """Name the model features, in the order the model consumes them."""
    return daily.feature_names(params)


def build_feature_state(pools_daily: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Build each pool's feature state for the hourly inference run from its daily history."""
    feature_state = state.build_state(pools_daily, params)
    logger.info("Feature state: %d pools", len(feature_state))
    return feature_state


def build_serving_state(feature_state: pd.DataFrame) -> dict[str, np.ndarray]:
    """The feature state as the API reads it: NumPy columns."""
    return state.to_arrays(feature_state)


def build_market_universe(pools_daily: pd.DataFrame) -> list[str]:
    """The pools the training market was made of: the hourly market counts only these."""
    return sorted(pools_daily.loc[pools_daily["observed"], "pool"].astype(str).unique())


def build_market_context(pool_features: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """The market at the end of training, for requests before any hourly run.

    Like a snapshot, it is each pool's latest observed day among the last `stored_days` days
    (the last day alone can be partly reported), dated the last day.
    """
    days = params["market_context"]["stored_days"]
    last = pool_features["date"].max()
    recent = pool_features.loc[
        pool_features["apy"].notna() & (pool_features["date"] > last - pd.Timedelta(days=days))
    ]
    latest = recent.sort_values(["pool", "date"]).groupby("pool", observed=True).tail(1)
    context = market.summarise(latest.assign(date=last), params["market_context"])
    logger.info("Market context of %s: %d pools", last.date(), len(context["apy"]))
    return market.to_records(context)
