"""Candidate classifiers, built from parameter specs: baselines, linear and tree models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


class BinnedRateClassifier(ClassifierMixin, BaseEstimator):
    """One-feature rule: P(class 1) is the training rate of the feature's quantile bin."""

    def __init__(self, feature: str = "apy", bins: int = 10, prior_weight: float = 10.0):
        self.feature = feature
        self.bins = bins
        self.prior_weight = prior_weight

    def _bin(self, X: pd.DataFrame) -> np.ndarray:
        """Bin index per row; missing values get their own last bin."""
        values = np.asarray(X[self.feature], dtype=float)
        index = np.searchsorted(self.edges_, values, side="right")
        return np.where(np.isnan(values), len(self.edges_) + 1, index)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> BinnedRateClassifier:
        """Learn quantile bin edges and the smoothed class-1 rate in each bin."""
        y = np.asarray(y, dtype=float)
        values = np.asarray(X[self.feature], dtype=float)
        quantiles = np.linspace(0, 1, self.bins + 1)[1:-1]
        self.edges_ = (
            np.unique(np.nanquantile(values, quantiles))
            if np.isfinite(values).any()
            else np.array([])
        )
        self.classes_ = np.array([0, 1])
        self.prior_ = float(y.mean())
        index = self._bin(X)
        size = len(self.edges_) + 2
        positives = np.bincount(index, weights=y, minlength=size)
        counts = np.bincount(index, minlength=size)
        # Shrink sparse bins towards the overall rate rather than trusting a handful of rows.
        self.rates_ = (positives + self.prior_weight * self.prior_) / (counts + self.prior_weight)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return [P(Down), P(Stable/Up)] per row."""
        p = self.rates_[self._bin(X)]
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predict the more likely class."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def build_estimator(spec: Mapping[str, Any]) -> BaseEstimator:
    """Create an unfitted classifier from a `models` parameter entry (its `type` plus options)."""
    options = {k: v for k, v in spec.items() if k != "type"}
    kind = spec["type"]
    if kind == "majority":
        return DummyClassifier(strategy="prior")
    if kind == "binned_rule":
        return BinnedRateClassifier(**options)
    if kind == "logistic_regression":
        # Scaled, with median imputation: lags and rolling stds are missing for young pools.
        return make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(**options),
        )
    if kind == "random_forest":
        # OOB is computed (and reported as optimistic): bootstrap rows overlap in time.
        return RandomForestClassifier(oob_score=True, **options)
    if kind == "hist_gradient_boosting":
        # No early stopping: its random validation split would ignore time.
        return HistGradientBoostingClassifier(early_stopping=False, **options)
    raise ValueError(
        f"Unknown model type {kind!r}; expected one of majority, binned_rule, "
        "logistic_regression, random_forest, hist_gradient_boosting"
    )


def oob_roc_auc(model: BaseEstimator, y: np.ndarray) -> float | None:
    """ROC AUC of a random forest's out-of-bag scores, or None for other models."""
    scores = getattr(model, "oob_decision_function_", None)
    if scores is None:
        return None
    from sklearn.metrics import roc_auc_score

    valid = np.isfinite(scores[:, 1])
    return float(roc_auc_score(np.asarray(y)[valid], scores[valid, 1]))
