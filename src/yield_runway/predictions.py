"""DefiLlama's predictions contract (class, probability in percent, confidence tercile) and the
scoring of the served population, shared by the hourly run and the API."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from yield_runway.contracts import CONTRACT_FIELDS, contract_fields, served_pools

logger = logging.getLogger(__name__)

__all__ = ["CONTRACT_FIELDS", "contract_records", "prediction_columns", "score_pools"]


class FeatureMismatchError(ValueError):
    """The model was fitted on features that the feature list does not provide."""


def check_model_features(model: Any, feature_list: list[str], name: str) -> None:
    """Fail with a clear message unless the model's features are all in the feature list."""
    features = getattr(model, "features", None)
    if features is None:
        raise FeatureMismatchError(f"{name} has no `features` attribute: not a CalibratedModel")
    missing = [f for f in features if f not in feature_list]
    if missing:
        raise FeatureMismatchError(
            f"{name} needs feature(s) not in feature_list: {', '.join(missing)}; retrain or "
            "deploy the feature_list.json written with this model"
        )


def prediction_columns(p_stable_up: np.ndarray) -> pd.DataFrame:
    """The contract's three fields per row from calibrated P(Stable/Up); NaN -> all null."""
    fields = contract_fields(p_stable_up)
    scored = fields["binnedConfidence"] > 0
    return pd.DataFrame(
        {
            "predictedClass": pd.Series(fields["predictedClass"], dtype="string"),
            "predictedProbability": fields["predictedProbability"],
            "binnedConfidence": pd.Series(fields["binnedConfidence"]).where(scored).astype("Int64"),
        }
    )


def contract_records(columns: pd.DataFrame) -> list[dict[str, Any]]:
    """The `predictions` objects, JSON-ready (null instead of NaN/NA)."""
    plain = columns[list(CONTRACT_FIELDS)].astype(object)
    return plain.where(columns[list(CONTRACT_FIELDS)].notna(), None).to_dict(orient="records")


def score_pools(
    serving_features: pd.DataFrame,
    champion_model: Any,
    feature_list: list[str],
    served_params: dict[str, Any],
    params: dict[str, Any],
) -> pd.DataFrame:
    """Calibrated P(Stable/Up) and the contract fields for the served population; null elsewhere."""
    check_model_features(champion_model, feature_list, "champion_model")
    model = champion_model.use_threads(params["model_n_jobs"])
    frame = serving_features
    served = served_pools(
        frame["snapshot_apy"].to_numpy(dtype=float),
        frame["n_samples"].to_numpy(),
        frame["stale_state"].to_numpy(bool),
        served_params["min_samples"],
    )
    p_stable_up = np.full(len(frame), np.nan)
    if served.any():
        p_stable_up[served] = model.predict_proba(frame.loc[served, model.features])[:, 1]
    contract = prediction_columns(p_stable_up).set_index(frame.index)
    logger.info(
        "Scored %d of %d pools; %d nulled", int(served.sum()), len(frame), int((~served).sum())
    )
    return frame.assign(p_stable_up=p_stable_up, served=served, **contract)
