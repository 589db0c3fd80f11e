"""Tests of the candidate estimators and the calibrated serving model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yield_runway.models.calibration import CalibratedModel, ScoreCalibrator
from yield_runway.models.estimators import BinnedRateClassifier, build_estimator, model_features


def test_binned_rule_learns_bin_rates():
    X = pd.DataFrame({"apy": [1.0, 2.0, 3.0, 4.0, np.nan, np.nan]})
    y = np.array([1, 1, 0, 0, 1, 0])
    model = BinnedRateClassifier(feature="apy", bins=2, prior_weight=0.0).fit(X, y)
    p = model.predict_proba(pd.DataFrame({"apy": [1.5, 3.5, np.nan]}))[:, 1]
    np.testing.assert_allclose(p, [1.0, 0.0, 0.5])
    shrunk = BinnedRateClassifier(feature="apy", bins=2, prior_weight=2.0).fit(X, y)
    # (2 positives + 2 * 0.5 prior) / (2 rows + 2)
    assert shrunk.predict_proba(pd.DataFrame({"apy": [1.0]}))[0, 1] == pytest.approx(0.75)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "majority"},
        {"type": "binned_rule", "feature": "a", "bins": 4},
        {"type": "logistic_regression", "C": 1.0},
        {"type": "random_forest", "n_estimators": 10, "random_state": 0},
        {"type": "hist_gradient_boosting", "max_iter": 10},
    ],
)
def test_every_model_type_fits_with_missing_values(spec):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    X.loc[::7, "b"] = np.nan
    X["empty"] = np.nan  # e.g. a 30-day change when every pool is younger than 30 days
    y = (X["a"] + rng.normal(0, 0.5, 200) > 0).astype(int).to_numpy()
    p = build_estimator(spec, list(X.columns)).fit(X, y).predict_proba(X)[:, 1]
    assert p.shape == (200,) and np.all((p >= 0) & (p <= 1))
    if spec["type"] != "majority":
        assert np.corrcoef(p, X["a"])[0, 1] > 0.5
    else:
        np.testing.assert_allclose(p, y.mean())


def test_unknown_model_type_is_named():
    with pytest.raises(ValueError, match="Unknown model type 'xgb'"):
        build_estimator({"type": "xgb"}, ["a"])


def test_model_feature_subsets():
    names = ["apy", "tvlUsd", "apyMeanExpanding", "apyStdExpanding", "chain_factorized"]
    names += ["project_factorized", "extra"]
    assert model_features({"type": "majority"}, names) == names
    assert model_features({"features": "original"}, names) == names[:6]
    assert model_features({"features": ["extra"]}, names) == ["extra"]
    with pytest.raises(ValueError, match="not in feature_list: nope"):
        model_features({"features": ["nope"]}, names)


def test_a_model_uses_only_its_features():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=100), "b": rng.normal(size=100)})
    y = (X["b"] > 0).astype(int).to_numpy()
    model = build_estimator({"type": "logistic_regression", "features": ["a"]}, ["a", "b"]).fit(
        X, y
    )
    # Changing a column the model does not use changes nothing.
    np.testing.assert_allclose(model.predict_proba(X), model.predict_proba(X.assign(b=0.0)))
    with pytest.raises(ValueError, match="Missing feature"):
        model.predict_proba(X[["b"]])


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibrator_fixes_overconfident_scores(method):
    rng = np.random.default_rng(1)
    truth = rng.uniform(0.2, 0.8, 5000)
    y = (rng.random(5000) < truth).astype(int)
    # Overconfident scores: right order, pushed towards 0 and 1.
    scores = 1 / (1 + np.exp(-4 * np.log(truth / (1 - truth))))
    calibrated = ScoreCalibrator(method).fit(scores, y).transform(scores)
    assert np.mean((calibrated - y) ** 2) < np.mean((scores - y) ** 2) - 0.01
    assert abs(calibrated.mean() - y.mean()) < 0.02


def test_calibrated_model_checks_its_features():
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    y = np.array([0, 0, 1, 1])
    base = build_estimator({"type": "logistic_regression", "features": ["a"]}, ["a", "b"]).fit(X, y)
    calibrator = ScoreCalibrator("sigmoid").fit(np.array([0.2, 0.8]), [0, 1])
    model = CalibratedModel(base, calibrator, ["a"])
    p = model.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p[3, 1] > p[0, 1]
    with pytest.raises(ValueError, match="Missing feature"):
        model.predict_proba(X[["b"]])


def test_binned_rule_with_fixed_edges_keeps_a_binary_feature_apart():
    # A quantile edge of a mostly-1 feature would put 0 and 1 in one bin; a fixed 0.5 does not.
    X = pd.DataFrame({"past": [1.0, 1.0, 1.0, 1.0, 0.0, np.nan]})
    y = np.array([1, 1, 1, 0, 0, 1])
    rule = BinnedRateClassifier(feature="past", edges=[0.5], prior_weight=0.0).fit(X, y)
    p = rule.predict_proba(pd.DataFrame({"past": [0.0, 1.0, np.nan]}))[:, 1]
    np.testing.assert_allclose(p, [0.0, 0.75, 1.0])
