"""Candidate classifiers, built from parameter specs: baselines, linear and tree models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from yield_runway.contracts import ORIGINAL_FEATURES


class BinnedRateClassifier(ClassifierMixin, BaseEstimator):
    """One-feature rule: P(class 1) is the training rate of the feature's quantile bin."""

    def __init__(
        self,
        feature: str = "apy",
        bins: int = 10,
        prior_weight: float = 10.0,
        edges: list[float] | None = None,
    ):
        self.feature = feature
        self.bins = bins
        self.prior_weight = prior_weight
        self.edges = edges

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
        if self.edges is not None:  # fixed edges, e.g. 0.5 for a 0/1 feature
            self.edges_ = np.asarray(self.edges, dtype=float)
        elif np.isfinite(values).any():
            self.edges_ = np.unique(np.nanquantile(values, quantiles))
        else:
            self.edges_ = np.array([])
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


class SelectColumns(TransformerMixin, BaseEstimator):
    """Keep the named columns, in order, so a model carries the feature subset it was fit on."""

    def __init__(self, columns: list[str] | None = None):
        self.columns = columns

    def fit(self, X: pd.DataFrame, y: np.ndarray | None = None) -> SelectColumns:
        """Check the columns exist."""
        self.transform(X)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return the selected columns."""
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise ValueError(f"Missing feature(s) for the model: {', '.join(missing)}")
        return X[self.columns]


class FillEmptyColumns(TransformerMixin, BaseEstimator):
    """Set columns that were entirely missing in training to 0, keeping other NaNs as they are."""

    def fit(self, X: pd.DataFrame, y: np.ndarray | None = None) -> FillEmptyColumns:
        """Remember which columns hold no value at all."""
        self.columns_ = list(X.columns)
        self.empty_ = [c for c in X.columns if X[c].isna().all()]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Replace the remembered empty columns with zeros."""
        return X.assign(**dict.fromkeys(self.empty_, 0.0)) if self.empty_ else X


def model_features(spec: Mapping[str, Any], feature_list: list[str]) -> list[str]:
    """The features a model spec uses: all (default), the six original ones, or a list."""
    chosen = spec.get("features", "all")
    if chosen == "all":
        return list(feature_list)
    columns = ORIGINAL_FEATURES if chosen == "original" else list(chosen)
    unknown = [c for c in columns if c not in feature_list]
    if unknown:
        raise ValueError(f"Model features not in feature_list: {', '.join(unknown)}")
    return list(columns)


def build_estimator(spec: Mapping[str, Any], feature_list: list[str]) -> Pipeline:
    """Create an unfitted classifier from a `models` entry, selecting its features first."""
    select = SelectColumns(model_features(spec, feature_list))
    return make_pipeline(select, _build_core(spec))


def _build_core(spec: Mapping[str, Any]) -> BaseEstimator:
    """The classifier of a `models` entry: its `type` plus options."""
    options = {k: v for k, v in spec.items() if k not in ("type", "features", "early_stopping")}
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
        # Its own early stopping splits rows at random, which ignores time: models.fitting stops
        # on an inner time split instead. Its binning fails on a column with no value (e.g. a
        # 30-day change on an early fold of young pools).
        return make_pipeline(
            FillEmptyColumns(), HistGradientBoostingClassifier(early_stopping=False, **options)
        )
    raise ValueError(
        f"Unknown model type {kind!r}; expected one of majority, binned_rule, "
        "logistic_regression, random_forest, hist_gradient_boosting"
    )


def oob_roc_auc(model: Pipeline, y: np.ndarray) -> float | None:
    """ROC AUC of a random forest's out-of-bag scores, or None for other models."""
    scores = getattr(model[-1], "oob_decision_function_", None)
    if scores is None:
        return None
    from sklearn.metrics import roc_auc_score

    valid = np.isfinite(scores[:, 1])
    return float(roc_auc_score(np.asarray(y)[valid], scores[valid, 1]))
