"""Probability-quality metrics for the binary APY-runway label."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

EPS = 1e-6


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int) -> float:
    """Mean |observed rate - mean prediction| over equal-width probability bins, row-weighted."""
    bins = np.minimum((np.asarray(p) * n_bins).astype(int), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    gap = np.abs(
        np.bincount(bins, weights=y, minlength=n_bins)
        - np.bincount(bins, weights=p, minlength=n_bins)
    )
    return float(gap.sum() / max(counts.sum(), 1))


def reliability_table(y: np.ndarray, p: np.ndarray, n_bins: int) -> list[dict[str, float | int]]:
    """Per equal-width probability bin holding rows: its range, rows, mean prediction, rate."""
    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    predicted = np.bincount(bins, weights=p, minlength=n_bins)
    observed = np.bincount(bins, weights=y, minlength=n_bins)
    return [
        {
            "bin_low": b / n_bins,
            "bin_high": (b + 1) / n_bins,
            "n": int(counts[b]),
            "mean_prediction": float(predicted[b] / counts[b]),
            "observed_rate": float(observed[b] / counts[b]),
        }
        for b in np.flatnonzero(counts)
    ]


def brier_skill(y: np.ndarray, p: np.ndarray, base_rate: float) -> float:
    """1 - Brier / Brier of always predicting the training base rate (0: no skill, <0: worse)."""
    y = np.asarray(y, dtype=float)
    reference = float(np.mean((y - base_rate) ** 2)) if len(y) else float("nan")
    if not reference:
        return float("nan")
    return 1.0 - float(np.mean((y - np.asarray(p, dtype=float)) ** 2)) / reference


def classification_metrics(
    y: np.ndarray, p: np.ndarray, n_bins: int, base_rate: float | None = None
) -> dict[str, Any]:
    """ROC AUC, PR AUC (both classes), Brier (and its skill over `base_rate`), log loss, ECE."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    both_classes = len(np.unique(y)) == 2
    skill = {} if base_rate is None else {"brier_skill": brier_skill(y, p, base_rate)}
    return {
        "n": int(len(y)),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
        "mean_prediction": float(p.mean()) if len(y) else float("nan"),
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both_classes else float("nan"),
        "pr_auc_down": float(average_precision_score(1 - y, 1 - p))
        if both_classes
        else float("nan"),
        "brier": float(brier_score_loss(y, p)) if len(y) else float("nan"),
        "log_loss": float(log_loss(y, np.clip(p, EPS, 1 - EPS), labels=[0, 1]))
        if len(y)
        else float("nan"),
        "ece": expected_calibration_error(y, p, n_bins) if len(y) else float("nan"),
        **skill,
    }
