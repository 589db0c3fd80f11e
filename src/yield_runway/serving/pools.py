"""`POST /predictions/pools`: snapshot pool objects scored from the stored state, NumPy only.

The same steps as an hourly run (parse, advance the state, today's features, score the served
population, the contract's fields), in memory: the scheduled run alone advances the stored
state. The parameters are those the release was trained with.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np

from yield_runway.contracts import contract_fields, contract_objects, served_pools
from yield_runway.features import state_arrays
from yield_runway.features.snapshot_objects import parse_objects
from yield_runway.features.state_layout import trailing_days

from .artefacts import STATE_PATH, ArtefactError, ArtefactStore

logger = logging.getLogger(__name__)


def utc_timestamp(moment: datetime | None = None) -> np.datetime64:
    """A moment (now by default) as naive UTC microseconds; a naive one is taken as UTC."""
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(moment, "us")


def state_warnings(
    state: dict[str, np.ndarray], run_timestamp: np.datetime64, max_age_days: int
) -> list[str]:
    """A warning when the stored state lags the request by more than `max_age_days` days."""
    dates = np.concatenate([state["last_date"], state["pending_date"]]).astype("datetime64[us]")
    dates = dates[~np.isnat(dates)]
    if not len(dates):
        return []
    newest = dates.max()
    age = int((state_arrays.day_of(run_timestamp) - newest) / state_arrays.DAY)
    if age <= max_age_days:
        return []
    return [
        f"feature state last advanced on {str(newest)[:10]}, {age} days before this request: "
        "the days between count as unobserved, so rolling features and sample counts are "
        "thinner than an up-to-date hourly run's (is the scheduled run failing?)"
    ]


def predict_pools(
    objects: list[dict[str, Any]], store: ArtefactStore, now: datetime | None = None
) -> dict[str, Any]:
    """`{data: [{pool, predictions}] in input order, warnings}`; the stored state is unchanged."""
    artefacts = store.get()
    params = artefacts.serving_parameters
    if params is None:
        raise ArtefactError(
            f"release {artefacts.version} carries no serving_parameters.json (trained before "
            "this version): retrain and upload the release to serve POST /predictions/pools"
        )
    fe = params["feature_engineering"]
    run_timestamp = utc_timestamp(now)
    limit = artefacts.observation_limits["apy_limit"]
    # The route checked every object already (validation.pool_objects): all usable.
    usable = [None] * len(objects)
    rows, _ = parse_objects(objects, params["snapshot_metadata_columns"], limit, usable)
    try:
        stored = state_arrays.read_columns(store.feature_state(), trailing_days(fe))
    except state_arrays.StateFormatError as error:
        raise ArtefactError(f"{store.uri}/{STATE_PATH}: {error}; rerun the hourly run") from None
    warnings = state_warnings(stored, run_timestamp, params["max_state_age_days"])
    for warning in warnings:
        logger.warning("POST /predictions/pools: %s", warning)
    current = state_arrays.update_state(stored, rows, run_timestamp, trailing_days(fe))
    features = state_arrays.serving_features(
        current,
        rows,
        run_timestamp,
        artefacts.categorical_mapping,
        fe,
        params["target"],
        store.market_context(),
    )
    served = served_pools(
        features["snapshot_apy"],
        features["n_samples"],
        features["stale_state"],
        params["served_population"]["min_samples"],
    )
    model = artefacts.champion_model
    p_stable_up = np.full(len(served), np.nan)
    if served.any():
        matrix = np.column_stack([features[f][served] for f in model.features]).astype(float)
        p_stable_up[served] = model.predict_proba(matrix)[:, 1]
    logger.info("Scored %d of %d pools", int(served.sum()), len(served))
    records = contract_objects(contract_fields(p_stable_up))
    data = [
        {"pool": pool, "predictions": record}
        for pool, record in zip(features["pool"], records, strict=True)
    ]
    return {"data": data, "warnings": warnings}
