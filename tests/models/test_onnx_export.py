"""ONNX export of served models: every model type and calibration scores as scikit-learn does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yield_runway.models.calibration import CalibratedModel, ScoreCalibrator
from yield_runway.models.estimators import build_estimator
from yield_runway.models.onnx_export import ExportError, export_model, parity
from yield_runway.serving.scorer import OnnxScorer, calibrate

TOLERANCE = 1e-5


def _frame(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Features with missing values and one empty column, and a label that depends on them."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "apy": rng.lognormal(1.5, 0.8, n),
            "tvlUsd": rng.lognormal(14, 2, n),
            "change": rng.normal(0, 0.3, n),
            "flag": rng.integers(0, 2, n).astype(float),
        }
    )
    X.loc[rng.random(n) < 0.15, "change"] = np.nan
    X.loc[rng.random(n) < 0.10, "apy"] = np.nan
    X["empty"] = np.nan
    signal = np.nan_to_num(X["change"].to_numpy(), nan=0.4) - 0.05 * np.nan_to_num(X["apy"])
    y = (signal + rng.normal(0, 0.3, n) > -0.2).astype(int)
    return X, y


def _served(spec: dict, method: str, X: pd.DataFrame, y: np.ndarray) -> CalibratedModel:
    model = build_estimator(spec, list(X.columns)).fit(X, y)
    calibrator = ScoreCalibrator(method).fit(model.predict_proba(X)[:, 1], y)
    return CalibratedModel(model=model, calibrator=calibrator, features=list(model[0].columns))


SPECS = {
    "logistic_regression": {"type": "logistic_regression", "C": 0.5, "max_iter": 500},
    "random_forest": {
        "type": "random_forest",
        "n_estimators": 15,
        "min_samples_leaf": 5,
        "random_state": 0,
    },
    "gradient_boosting": {"type": "hist_gradient_boosting", "max_iter": 30, "max_depth": 3},
    "rule_apy": {"type": "binned_rule", "feature": "apy", "bins": 5},
    "rule_flag": {"type": "binned_rule", "feature": "flag", "edges": [0.5]},
}
# onnxruntime's trees give float32 probabilities; isotonic steps can stretch that past 1e-5.
CASES = [
    (name, method)
    for name in SPECS
    for method in ("none", "sigmoid", "isotonic")
    if not (method == "isotonic" and name in ("random_forest", "gradient_boosting"))
]


@pytest.mark.parametrize(("name", "method"), CASES)
def test_export_scores_every_row_as_scikit_learn_does(name, method):
    X, y = _frame()
    model = _served(SPECS[name], method, X, y)
    graph, spec = export_model(model, name)
    scorer = OnnxScorer(graph, spec)
    fresh, _ = _frame(seed=1)  # rows the model never saw, missing values included
    gap = parity(model, scorer, fresh, TOLERANCE)
    assert gap <= TOLERANCE
    assert spec["calibration"]["method"] == method
    # The scores vary: a constant graph would pass a parity check against a constant model only.
    assert np.ptp(scorer.predict_proba(fresh)[:, 1]) > 0.02


def test_forest_sends_missing_values_where_each_tree_learned():
    # skl2onnx sends NaN down one side always; scikit-learn's trees learn a side per split.
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
    missing = rng.random(2000) < 0.3
    X.loc[missing, "a"] = np.nan
    # Missing `a` means class 1; otherwise the sign of `a` decides.
    y = np.where(missing, 1, (X["a"] > 0).astype(int)).astype(int)
    model = _served({"type": "random_forest", "n_estimators": 5, "random_state": 0}, "none", X, y)
    graph, spec = export_model(model, "forest")
    rows = pd.DataFrame({"a": [np.nan, np.nan, -1.0], "b": [0.0, 1.0, 0.0]})
    p = OnnxScorer(graph, spec).predict_proba(rows)[:, 1]
    np.testing.assert_allclose(p, model.predict_proba(rows)[:, 1], atol=TOLERANCE)
    assert p[0] > 0.9 and p[2] < 0.1


def test_parity_failure_names_the_model():
    X, y = _frame()
    model = _served(SPECS["logistic_regression"], "sigmoid", X, y)
    graph, spec = export_model(model, "logistic_regression")
    shifted = {**spec, "calibration": {**spec["calibration"], "intercept": 1.0}}
    with pytest.raises(ExportError, match=r"logistic_regression: ONNX and scikit-learn"):
        parity(model, OnnxScorer(graph, shifted), X, TOLERANCE)


def test_numpy_calibration_equals_the_fitted_calibrators():
    rng = np.random.default_rng(5)
    scores = np.concatenate([rng.random(400), [0.0, 1.0, 1e-9, 1 - 1e-9]])
    y = (rng.random(len(scores)) < scores).astype(int)
    for method in ("sigmoid", "isotonic"):
        calibrator = ScoreCalibrator(method).fit(scores[:300], y[:300])
        from yield_runway.models.onnx_export import calibration_parameters

        np.testing.assert_allclose(
            calibrate(scores, calibration_parameters(calibrator)),
            calibrator.transform(scores),
            rtol=0,
            atol=1e-12,
        )


def test_scorer_refuses_a_graph_that_does_not_match_its_spec():
    X, y = _frame()
    graph, spec = export_model(_served(SPECS["rule_apy"], "none", X, y), "rule_apy")
    from yield_runway.serving.scorer import ScorerError

    with pytest.raises(ScorerError, match="takes 1 columns, its spec names 2"):
        OnnxScorer(graph, {**spec, "features": ["apy", "tvlUsd"]})
    with pytest.raises(ScorerError, match="not a servable ONNX graph"):
        OnnxScorer(graph[: len(graph) // 2], spec)
    with pytest.raises(ScorerError, match="Missing feature"):
        OnnxScorer(graph, spec).predict_proba(pd.DataFrame({"tvlUsd": [1.0]}))
