"""Predictions for raw snapshot pool objects, through the inference pipeline's own nodes."""

from __future__ import annotations

from typing import Any

import pandas as pd

from yield_runway.features import state
from yield_runway.features.snapshot import parse_snapshot
from yield_runway.pipelines.inference.contract import contract_records
from yield_runway.pipelines.inference.nodes import compute_serving_features, score_pools

from .artefacts import ArtefactStore


def predict_pools(
    objects: list[dict[str, Any]],
    store: ArtefactStore,
    params: dict[str, Any],
    now: pd.Timestamp | None = None,
) -> list[dict[str, Any]]:
    """`{pool, predictions}` per object, in input order; the stored state is not changed."""
    artefacts = store.get()
    run_timestamp = now or pd.Timestamp.now(tz="UTC")
    fe = params["feature_engineering"]
    limit = artefacts.observation_limits["apy_limit"]
    rows, _ = parse_snapshot(objects, params["data_engineering"], limit)
    # The same steps as an hourly run, in memory: the scheduled run alone advances the state.
    current = state.update_state(
        store.feature_state(), rows, run_timestamp, state.trailing_days(fe)
    )
    features = compute_serving_features(
        current, rows, run_timestamp, artefacts.categorical_mapping, fe
    )
    scored = score_pools(
        features,
        artefacts.champion_model,
        artefacts.feature_list,
        params["served_population"],
        params["inference"],
    )
    return [
        {"pool": pool, "predictions": record}
        for pool, record in zip(scored["pool"], contract_records(scored), strict=True)
    ]
