"""Probability calibration of a scorer on a later fold, and the calibrated model that is served."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

EPS = 1e-6


METHODS = ("none", "sigmoid", "isotonic")


def recentre(scores: np.ndarray, rate: float) -> np.ndarray:
    """Shift scores on the log-odds scale until their mean is `rate` (a prior-shift correction).

    Out-of-fold scores carry the shift between their model's training base rate and their
    fold's own: a calibrator fit on them raw learns that drift of the past, not the shape of
    the scores. Scores re-centred on their fold's rate leave only the shape to learn.
    """
    z = logit(np.clip(np.asarray(scores, dtype=float), EPS, 1 - EPS))
    rate = float(np.clip(rate, EPS, 1 - EPS))
    shift = brentq(lambda d: expit(z + d).mean() - rate, -50.0, 50.0)
    return expit(z + shift)


class ScoreCalibrator(BaseEstimator):
    """Map raw P(Stable/Up) scores to calibrated probabilities (Platt sigmoid, isotonic, none)."""

    def __init__(self, method: str = "sigmoid"):
        self.method = method

    @staticmethod
    def _logit(p: np.ndarray) -> np.ndarray:
        """Log-odds of clipped probabilities, as a column."""
        p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
        return np.log(p / (1 - p)).reshape(-1, 1)

    def fit(self, scores: np.ndarray, y: np.ndarray) -> ScoreCalibrator:
        """Fit the mapping on scores of rows the scored model never trained on."""
        if self.method == "none":
            self.mapper_ = None
        elif self.method == "sigmoid":
            self.mapper_ = LogisticRegression(C=1e6).fit(self._logit(scores), y)
        elif self.method == "isotonic":
            self.mapper_ = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(scores, y)
        else:
            raise ValueError(f"calibration method must be one of {METHODS}, got {self.method!r}")
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated P(Stable/Up) for raw scores."""
        if self.method == "none":
            return np.asarray(scores, dtype=float)
        if self.method == "sigmoid":
            return self.mapper_.predict_proba(self._logit(scores))[:, 1]
        return self.mapper_.predict(np.asarray(scores, dtype=float))


class CalibratedModel(ClassifierMixin, BaseEstimator):
    """A fitted classifier plus its calibrator; `features` names the columns it consumes."""

    def __init__(self, model: BaseEstimator, calibrator: ScoreCalibrator, features: list[str]):
        self.model = model
        self.calibrator = calibrator
        self.features = features
        self.classes_ = np.array([0, 1])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return [P(Down), P(Stable/Up)] per row, calibrated."""
        # The fitted pipeline selects (and checks) its own columns.
        p = self.calibrator.transform(self.model.predict_proba(X)[:, 1])
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predict 1 (Stable/Up) or 0 (Down)."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
