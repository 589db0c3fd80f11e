"""The DefiLlama yields data contracts (DESIGN.md, "Data contracts"): field names, and the
predictions contract's fields from a calibrated P(Stable/Up). NumPy only: the API imports it."""

from __future__ import annotations

from typing import Any

import numpy as np

DOWN, STABLE_UP = 0, 1
CLASS_NAMES = {DOWN: "Down", STABLE_UP: "Stable/Up"}
CONTRACT_FIELDS = ("predictedClass", "predictedProbability", "binnedConfidence")
# binnedConfidence is 1 | 2 | 3: the tercile of predictedProbability across a run's pools.
CONFIDENCE_BINS = 3

# The pools.csv history of the yield-ml datasets: one row per pool per snapshot.
HISTORY_COLUMNS = [
    "timestamp",
    "pool",
    "chain",
    "project",
    "symbol",
    "tvlUsd",
    "apy",
    "apyBase",
    "apyReward",
]
# What each pool-day of the daily grid carries: its values, and its pool's attributes.
DAILY_VALUE_COLUMNS = ("apy", "apyBase", "apyReward", "tvlUsd")
POOL_ATTRIBUTE_COLUMNS = ("chain", "project", "symbol")

# The legacy `POST /predictions` contract: the six features of each row, in this order.
ORIGINAL_FEATURES = [
    "apy",
    "tvlUsd",
    "apyMeanExpanding",
    "apyStdExpanding",
    "chain_factorized",
    "project_factorized",
]


def served_pools(
    snapshot_apy: np.ndarray, n_samples: np.ndarray, stale_state: np.ndarray, min_samples: int
) -> np.ndarray:
    """The served population: the snapshot's apy > 0, enough daily samples, a state not ahead.

    Samples count today's when it is an observation; a pool with apy but no valid tvlUsd is an
    unobserved day for the features (as in training's cleaning) and is scored from its history.
    """
    with np.errstate(invalid="ignore"):
        positive = np.asarray(snapshot_apy, dtype=float) > 0
    enough = np.asarray(n_samples) >= min_samples
    return positive & enough & ~np.asarray(stale_state, dtype=bool)


def average_pct_rank(values: np.ndarray) -> np.ndarray:
    """Each value's rank among the non-NaN values over their count, ties averaged; NaN stays."""
    values = np.asarray(values, dtype=float)
    scored = ~np.isnan(values)
    ranks = np.full(len(values), np.nan)
    if scored.any():
        distinct, inverse, counts = np.unique(
            values[scored], return_inverse=True, return_counts=True
        )
        # The tie run of a value spans ranks (those below + 1) .. (those below + its count).
        below = np.cumsum(counts) - counts
        ranks[scored] = (below + (counts + 1) / 2)[inverse] / scored.sum()
    return ranks


def contract_fields(p_stable_up: np.ndarray) -> dict[str, np.ndarray]:
    """The contract's three fields per row from calibrated P(Stable/Up); NaN -> unscored.

    predictedClass is an object array of names (None unscored), binnedConfidence 0 unscored.
    """
    p = np.asarray(p_stable_up, dtype=float)
    scored = ~np.isnan(p)
    probability = 100.0 * np.maximum(p, 1.0 - p)
    label = np.where(p >= 0.5, CLASS_NAMES[STABLE_UP], CLASS_NAMES[DOWN]).astype(object)
    # Tercile by rank across the scored rows: ties share a bin, one row is in the top bin.
    rank = average_pct_rank(probability)
    tercile = np.clip(np.ceil(np.nan_to_num(rank) * CONFIDENCE_BINS), 1, CONFIDENCE_BINS)
    return {
        "predictedClass": np.where(scored, label, None),
        "predictedProbability": np.where(scored, probability, np.nan),
        "binnedConfidence": np.where(scored, tercile, 0).astype(np.int64),
    }


def contract_objects(fields: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """The `predictions` objects, JSON-ready (null where unscored)."""
    names, probability, confidence = (fields[f] for f in CONTRACT_FIELDS)
    return [
        dict.fromkeys(CONTRACT_FIELDS)
        if name is None
        else dict(zip(CONTRACT_FIELDS, (name, float(p), int(c)), strict=True))
        for name, p, c in zip(names, probability, confidence, strict=True)
    ]
