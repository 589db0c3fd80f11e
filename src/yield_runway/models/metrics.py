"""Probability-quality metrics for the binary APY-runway label."""

from __future__ import annotations

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


def classification_metrics(y: np.ndarray, p: np.ndarray, n_bins: int) -> dict[str, float | int]:
    """ROC AUC, PR AUC (both classes), Brier, log loss and ECE of P(Stable/Up) against labels."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    both_classes = len(np.unique(y)) == 2
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
    }
