"""Feature drift between a training reference population and a current population.

Numeric features: Wasserstein distance divided by the reference standard deviation, computed on
the current values inside the reference range; values outside it are counted, not measured, so a
handful of absurd pools cannot dominate the distance. Categorical features: Jensen-Shannon
distance (base 2, so in [0, 1]) between category frequencies, with the unknown code as a category
of its own.

A distance between two finite samples is never zero, even when both come from one distribution,
and with a few hundred pools it can exceed any fixed threshold by chance alone. So each feature
also gets a noise floor: a high quantile of the distance between the reference and resamples of
it the size of the current population. A feature drifts when its distance exceeds both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from yield_runway.features.daily import UNKNOWN_CODE

NUMERIC_STATISTIC = "wasserstein_over_std"
CATEGORICAL_STATISTIC = "jensen_shannon"


def _finite(values: pd.Series) -> np.ndarray:
    """The finite values of a series as floats (NaN and +-inf are missing, not measurable)."""
    array = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return array[np.isfinite(array)]


def numeric_drift(reference: pd.Series, current: pd.Series) -> dict[str, Any]:
    """Wasserstein distance over the reference std, with out-of-range current values counted."""
    ref, cur = _finite(reference), _finite(current)
    n_missing = int(len(current) - len(cur))
    if len(ref) == 0:
        below = above = np.zeros(len(cur), dtype=bool)
    else:
        below, above = cur < ref.min(), cur > ref.max()
    inside = cur[~(below | above)]
    value = float("nan")
    if len(ref) and len(inside):
        std = float(ref.std(ddof=1)) if len(ref) > 1 else 0.0
        distance = float(wasserstein_distance(ref, inside))
        # A constant reference leaves no room inside its range: the in-range current values equal
        # it and the distance is 0, so only the out-of-range count can show drift.
        value = distance / std if std > 0 else 0.0
    n_out = int(below.sum() + above.sum())
    return {
        "statistic": NUMERIC_STATISTIC,
        "value": value,
        "n_reference": int(len(ref)),
        "n_current": int(len(cur)),
        "n_current_missing": n_missing,
        "n_out_of_range": n_out,
        "n_below_range": int(below.sum()),
        "n_above_range": int(above.sum()),
        "out_of_range_share": n_out / len(cur) if len(cur) else float("nan"),
        "unknown_share": None,
        "reference_unknown_share": None,
    }


def _codes(values: pd.Series, unknown_code: int) -> pd.Series:
    """Integer category codes; a missing value is unknown, like an unseen category."""
    return pd.to_numeric(values, errors="coerce").fillna(unknown_code).astype("int64")


def categorical_drift(
    reference: pd.Series, current: pd.Series, unknown_code: int = UNKNOWN_CODE
) -> dict[str, Any]:
    """Jensen-Shannon distance (base 2) between category shares, unknown code kept as a category."""
    ref, cur = _codes(reference, unknown_code), _codes(current, unknown_code)
    categories = np.union1d(ref.unique(), cur.unique())
    p = ref.value_counts(normalize=True).reindex(categories, fill_value=0.0).to_numpy()
    q = cur.value_counts(normalize=True).reindex(categories, fill_value=0.0).to_numpy()
    value = float(jensenshannon(p, q, base=2)) if len(ref) and len(cur) else float("nan")
    return {
        "statistic": CATEGORICAL_STATISTIC,
        "value": value,
        "n_reference": int(len(ref)),
        "n_current": int(len(cur)),
        "n_current_missing": int(current.isna().sum()),
        "n_out_of_range": None,
        "n_below_range": None,
        "n_above_range": None,
        "out_of_range_share": None,
        "unknown_share": float(cur.eq(unknown_code).mean()) if len(cur) else float("nan"),
        "reference_unknown_share": float(ref.eq(unknown_code).mean()) if len(ref) else float("nan"),
    }


def numeric_noise(
    reference: pd.Series, n_current: int, noise: Mapping[str, Any], rng: np.random.Generator
) -> float:
    """The chance level of `numeric_drift`: its quantile over resamples of the reference."""
    ref = _finite(reference)
    std = float(ref.std(ddof=1)) if len(ref) > 1 else 0.0
    if std == 0 or n_current == 0:
        return 0.0
    draws = rng.choice(ref, size=(int(noise["resamples"]), n_current), replace=True)
    distances = [wasserstein_distance(ref, draw) / std for draw in draws]
    return float(np.quantile(distances, noise["quantile"]))


def categorical_noise(
    reference: pd.Series,
    n_current: int,
    noise: Mapping[str, Any],
    rng: np.random.Generator,
    unknown_code: int = UNKNOWN_CODE,
) -> float:
    """The chance level of `categorical_drift`: its quantile over resamples of the reference."""
    shares = _codes(reference, unknown_code).value_counts(normalize=True).to_numpy()
    if len(shares) < 2 or n_current == 0:
        return 0.0
    draws = rng.multinomial(n_current, shares, size=int(noise["resamples"])) / n_current
    distances = jensenshannon(np.broadcast_to(shares, draws.shape), draws, axis=1, base=2)
    return float(np.quantile(distances, noise["quantile"]))


def feature_threshold(feature: str, params: Mapping[str, Any]) -> float:
    """The drift threshold of a feature: its override, else the default."""
    return float((params.get("thresholds") or {}).get(feature, params["threshold"]))


def is_drifted(entry: Mapping[str, Any], max_out_of_range_share: float | None) -> bool:
    """Whether a feature's distance exceeds its threshold and its noise floor, or too many
    values left the range."""
    value = entry["value"]
    limit = max(entry["threshold"], entry.get("noise_floor") or 0.0)
    drifted = bool(np.isfinite(value) and value > limit)
    share = entry["out_of_range_share"]
    # A few absurd pools are excluded from the distance, but a large share of the population
    # outside everything training saw is drift in itself.
    if max_out_of_range_share is not None and share is not None and np.isfinite(share):
        drifted |= share > max_out_of_range_share
    return drifted


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str],
    params: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """One entry per feature: statistic, value, threshold, drifted and the counts behind them."""
    categorical = set(params["categorical_features"])
    noise = params.get("noise")
    rng = np.random.default_rng(noise["seed"]) if noise else None
    report = []
    for feature in features:
        if feature in categorical:
            entry = categorical_drift(reference[feature], current[feature])
            measure_noise = categorical_noise
        else:
            entry = numeric_drift(reference[feature], current[feature])
            measure_noise = numeric_noise
        entry = {"feature": feature, **entry, "threshold": feature_threshold(feature, params)}
        # The numeric distance is measured on the in-range values only: resample that many.
        n_measured = entry["n_current"] - (entry["n_out_of_range"] or 0)
        entry["noise_floor"] = (
            measure_noise(reference[feature], n_measured, noise, rng) if noise else None
        )
        entry["drifted"] = is_drifted(entry, params.get("max_out_of_range_share"))
        report.append(entry)
    return report


def drift_summary(report: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts of drifted features, their names and the largest distance."""
    drifted = [entry["feature"] for entry in report if entry["drifted"]]
    measured = [entry for entry in report if np.isfinite(entry["value"])]
    largest = max(measured, key=lambda entry: entry["value"], default=None)
    return {
        "n_features": len(report),
        "n_drifted": len(drifted),
        "drifted_features": drifted,
        "not_measured": [entry["feature"] for entry in report if not np.isfinite(entry["value"])],
        "max_drift": None
        if largest is None
        else {"feature": largest["feature"], "value": largest["value"]},
        "drift_flagged": bool(drifted),
    }
