"""Predictions for raw snapshot pool objects, through the inference pipeline's own nodes."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from yield_runway.features import state
from yield_runway.features.hourly import compute_serving_features
from yield_runway.features.snapshot import parse_snapshot
from yield_runway.predictions import contract_records, score_pools

from .artefacts import ArtefactStore

logger = logging.getLogger(__name__)


def state_warnings(
    feature_state: pd.DataFrame, run_timestamp: pd.Timestamp, max_age_days: int
) -> list[str]:
    """A warning when the stored state lags the request by more than `max_age_days` days."""
    newest = pd.concat([feature_state["last_date"], feature_state["pending_date"]]).max()
    if pd.isna(newest):
        return []
    age = (state.day_of(run_timestamp) - newest).days
    if age <= max_age_days:
        return []
    return [
        f"feature state last advanced on {newest.date()}, {age} days before this request: "
        "the days between count as unobserved, so rolling features and sample counts are "
        "thinner than an up-to-date hourly run's (is the scheduled run failing?)"
    ]


def predict_pools(
    objects: list[dict[str, Any]],
    store: ArtefactStore,
    params: dict[str, Any],
    now: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """`{data: [{pool, predictions}] in input order, warnings}`; the stored state is unchanged."""
    artefacts = store.get()
    run_timestamp = now or pd.Timestamp.now(tz="UTC")
    fe = params["feature_engineering"]
    limit = artefacts.observation_limits["apy_limit"]
    rows, _ = parse_snapshot(objects, params["data_engineering"], limit)
    stored = store.feature_state()
    warnings = state_warnings(stored, run_timestamp, params["inference"]["max_state_age_days"])
    for warning in warnings:
        logger.warning("POST /predictions/pools: %s", warning)
    # The same steps as an hourly run, in memory: the scheduled run alone advances the state.
    current = state.update_state(stored, rows, run_timestamp, state.trailing_days(fe))
    features = compute_serving_features(
        current,
        rows,
        run_timestamp,
        artefacts.categorical_mapping,
        fe,
        params["target"],
        market_context=store.market_context(),
    )
    scored = score_pools(
        features,
        artefacts.champion_model,
        artefacts.feature_list,
        params["served_population"],
        params["inference"],
    )
    data = [
        {"pool": pool, "predictions": record}
        for pool, record in zip(scored["pool"], contract_records(scored), strict=True)
    ]
    return {"data": data, "warnings": warnings}
