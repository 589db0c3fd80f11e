"""DefiLlama's predictions contract: class, probability in percent and a confidence tercile."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from yield_runway.labels import CLASS_NAMES, DOWN, STABLE_UP

CONTRACT_FIELDS = ("predictedClass", "predictedProbability", "binnedConfidence")
# binnedConfidence is 1 | 2 | 3: the tercile of predictedProbability across a run's pools.
CONFIDENCE_BINS = 3


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
    p = np.asarray(p_stable_up, dtype=float)
    scored = ~np.isnan(p)
    probability = 100.0 * np.maximum(p, 1.0 - p)
    label = np.where(p >= 0.5, CLASS_NAMES[STABLE_UP], CLASS_NAMES[DOWN])
    # Tercile by rank across the scored rows: ties share a bin, one row is in the top bin.
    rank = pd.Series(probability).rank(method="average", pct=True).to_numpy()
    tercile = np.clip(np.ceil(rank * CONFIDENCE_BINS), 1, CONFIDENCE_BINS)
    return pd.DataFrame(
        {
            "predictedClass": pd.Series(np.where(scored, label, None), dtype="string"),
            "predictedProbability": np.where(scored, probability, np.nan),
            "binnedConfidence": pd.Series(np.where(scored, tercile, np.nan)).astype("Int64"),
        }
    )


def contract_records(columns: pd.DataFrame) -> list[dict[str, Any]]:
    """The `predictions` objects, JSON-ready (null instead of NaN/NA)."""
    plain = columns[list(CONTRACT_FIELDS)].astype(object)
    return plain.where(columns[list(CONTRACT_FIELDS)].notna(), None).to_dict(orient="records")
