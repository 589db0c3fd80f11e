"""Tests of the modelling nodes on small hand-built frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yield_runway.pipelines.modelling.nodes import (
    build_feature_reference,
    build_model_input,
    fit_calibrators,
    make_evaluation_splits,
    select_champion,
)

TARGET = {
    "horizon_days": 2,
    "threshold": -0.2,
    "future_stat": "point",
    "min_future_samples": 1,
    "zero_apy_rule": "exclude",
}


def _features() -> pd.DataFrame:
    apy = [5.0, 0.0, np.nan, 1.0, 8.0, 5.0, 5.0, 5.0]
    return pd.DataFrame(
        {
            "pool": "p1",
            "date": pd.date_range("2025-01-01", periods=8, freq="D"),
            "apy": apy,
            "observed": ~np.isnan(apy),
            "n_samples": [1, 2, 2, 3, 4, 5, 6, 7],
            "f1": np.arange(8.0),
        }
    )


def test_model_input_keeps_labelled_observed_rows_and_flags_served():
    table = build_model_input(_features(), ["apy", "f1"], TARGET, {"min_samples": 4})
    # Day 1's point target (day 3) is unobserved, day 2 has apy 0, day 3 is unobserved,
    # and the last two days have no future: days 4, 5 and 6 remain.
    assert table["date"].dt.day.tolist() == [4, 5, 6]
    # 1 -> 5 is up; 8 -> 5 is -37.5%: Down; 5 -> 5 is stable.
    assert table["target"].tolist() == [1, 0, 1]
    assert table["f1"].tolist() == [3.0, 4.0, 5.0]
    assert table["served"].tolist() == [False, True, True]
    assert table["target"].dtype == np.int8


def test_purge_shorter_than_horizon_is_rejected():
    table = pd.DataFrame({"date": pd.date_range("2025-01-01", periods=10)})
    split = {"holdout_fraction": 0.3, "purge_days": 1, "cv_folds": 1, "min_train_days": 1}
    with pytest.raises(
        ValueError, match="split.purge_days \\(1\\) must be at least the label horizon \\(2\\)"
    ):
        make_evaluation_splits(table, split, TARGET, {})
    boosting = {"gb": {"early_stopping": {"purge_days": 1}}}
    with pytest.raises(ValueError, match="models.gb.early_stopping.purge_days \\(1\\)"):
        make_evaluation_splits(table, {**split, "purge_days": 2}, TARGET, boosting)


def _cv(**fold_aucs: list[float]) -> dict:
    return {name: {"folds": [{"roc_auc": a} for a in aucs]} for name, aucs in fold_aucs.items()}


def test_champion_is_best_by_cv_when_it_beats_the_noise():
    cv = _cv(a=[0.60, 0.62, 0.61], b=[0.70, 0.71, 0.69], c=[0.64, 0.66, 0.65])
    assert select_champion(cv, {"order": ["a", "c", "b"], "standard_errors": 1.0}) == "b"


def test_a_simpler_candidate_within_one_standard_error_wins():
    # b beats a by 0.004 on average; the per-fold differences (0.05, -0.04, 0.002) have a
    # standard error of 0.026: noise, so the simpler a is the champion.
    cv = _cv(a=[0.70, 0.74, 0.72], b=[0.75, 0.70, 0.722])
    params = {"order": ["a", "b"], "standard_errors": 1.0}
    assert select_champion(cv, params) == "a"
    # A consistent gain of the same size is not noise.
    cv = _cv(a=[0.70, 0.74, 0.72], b=[0.705, 0.743, 0.724])
    assert select_champion(cv, params) == "b"
    # With no tolerance the best mean wins.
    cv = _cv(a=[0.70, 0.74, 0.72], b=[0.75, 0.70, 0.722])
    assert select_champion(cv, {**params, "standard_errors": 0.0}) == "b"


def test_selection_survives_undefined_fold_aucs_and_a_single_fold():
    params = {"order": ["a", "b", "c"], "standard_errors": 1.0}
    # One fold: no noise estimate, the better mean wins (a candidate with no AUC is skipped).
    assert select_champion(_cv(a=[0.6], b=[0.7], c=[np.nan]), params) == "b"
    # The best has an undefined fold: compared on the folds both have.
    cv = _cv(a=[0.70, 0.60, 0.71], b=[0.74, np.nan, 0.75], c=[np.nan, np.nan, np.nan])
    assert select_champion(cv, params) == "b"
    with pytest.raises(ValueError, match="no selection candidate has a defined CV ROC AUC"):
        select_champion(_cv(a=[np.nan], b=[np.nan], c=[np.nan]), params)


def test_selection_names_candidates_without_cv_results():
    with pytest.raises(ValueError, match="without CV results: gone"):
        select_champion(_cv(a=[0.6, 0.7]), {"order": ["a", "gone"], "standard_errors": 1.0})


def _fold_start(k: int) -> pd.Timestamp:
    return pd.Timestamp("2025-01-01") + pd.Timedelta(days=40 * k)


def _oof(scores_by_fold: list[np.ndarray], targets_by_fold: list[np.ndarray]) -> pd.DataFrame:
    """Out-of-fold scores of folds 40 days apart, each spread over its first 10 days."""
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "fold": k,
                    "date": _fold_start(k) + pd.to_timedelta(np.arange(len(p)) % 10, "D"),
                    "target": y,
                    "score_m": p,
                }
            )
            for k, (p, y) in enumerate(zip(scores_by_fold, targets_by_fold, strict=True))
        ],
        ignore_index=True,
    )


MODELS = {"m": {"type": "logistic_regression"}}
CALIBRATION = {
    "methods": ["none", "sigmoid", "isotonic"],
    "tree_methods": ["none", "sigmoid"],
    "selection_folds": 2,
    "standard_errors": 1.0,
    "recentre_folds": False,
    "ece_bins": 10,
}
SPLITS = {
    "purge_days": 5,
    "folds": [{"fold": k, "validation_start": str(_fold_start(k).date())} for k in range(3)],
}


def _folds(distort, seed: int = 0) -> pd.DataFrame:
    """Three folds of labels drawn from true probabilities, scored through `distort`."""
    rng = np.random.default_rng(seed)
    truth = [rng.uniform(0.05, 0.95, 4000) for _ in range(3)]
    labels = [(rng.random(len(t)) < t).astype(int) for t in truth]
    return _oof([distort(t) for t in truth], labels)


def test_calibration_is_published_only_when_it_beats_raw_scores_out_of_time():
    # Calibrated scores already: no calibrator beats them beyond the noise, raw is published.
    calibrators, report = fit_calibrators(
        _folds(lambda t: t), SPLITS, "m", "m", MODELS, CALIBRATION
    )
    assert report["m"]["method"] == "none" and report["judging_folds"] == [1, 2]
    assert calibrators["m"].transform(np.array([0.3]))[0] == 0.3

    # Over-confident scores (log-odds tripled): a calibrator that flattens them is chosen,
    # and it brings the scores back near the truth.
    def sharpen(t):
        return 1 / (1 + ((1 - t) / t) ** 3)

    calibrators, report = fit_calibrators(_folds(sharpen), SPLITS, "m", "m", MODELS, CALIBRATION)
    assert report["m"]["method"] in ("sigmoid", "isotonic")
    brier = report["m"]["mean_brier"]
    assert brier[report["m"]["method"]] < brier["none"]
    assert calibrators["m"].transform(np.array([sharpen(0.8)]))[0] == pytest.approx(0.8, abs=0.05)


def test_recentred_calibration_does_not_learn_a_drifting_base_rate():
    # Every fold's labels are 0.15 more often Stable/Up than its scores say, as when each
    # walk-forward model trained on a calmer past: fit on raw scores, a calibrator learns to
    # add that drift; re-centred on each fold's own rate, it learns the shape alone (identity).
    def drift(seed):
        rng = np.random.default_rng(seed)
        p = rng.uniform(0.1, 0.7, 6000)
        return p, (rng.random(len(p)) < p + 0.15).astype(int)

    folds = [drift(s) for s in range(3)]
    oof = _oof([p for p, _ in folds], [y for _, y in folds])
    params = {**CALIBRATION, "methods": ["none", "sigmoid"], "selection_folds": 1}
    raw, report = fit_calibrators(oof, SPLITS, "m", "m", MODELS, params)
    assert report["m"]["method"] == "sigmoid"
    assert raw["m"].transform(np.array([0.4]))[0] == pytest.approx(0.55, abs=0.03)
    shape, _ = fit_calibrators(oof, SPLITS, "m", "m", MODELS, {**params, "recentre_folds": True})
    assert shape["m"].transform(np.array([0.4]))[0] == pytest.approx(0.4, abs=0.03)


def test_calibrators_are_judged_only_on_scores_purged_before_the_fold():
    oof = _folds(lambda t: 1 / (1 + ((1 - t) / t) ** 3))
    _, report = fit_calibrators(oof, SPLITS, "m", "m", MODELS, CALIBRATION)
    # Fold 1 is fit on fold 0 only, fold 2 on folds 0 and 1: every row of them.
    assert [b["fit_rows"] for b in report["m"]["folds"]["none"]] == [4000, 8000]
    # A 35-day purge keeps only rows whose 35-day label windows end before the fold: fold 0's
    # first 5 days for fold 1; fold 0 and fold 1's first 5 days for fold 2.
    purged = {**SPLITS, "purge_days": 35}
    _, report = fit_calibrators(oof, purged, "m", "m", MODELS, CALIBRATION)
    assert [b["fit_rows"] for b in report["m"]["folds"]["none"]] == [2000, 6000]
    # A 45-day purge leaves fold 1 nothing earlier to fit on: only fold 2 judges.
    _, report = fit_calibrators(oof, {**SPLITS, "purge_days": 45}, "m", "m", MODELS, CALIBRATION)
    assert report["judging_folds"] == [2]
    assert [b["fit_rows"] for b in report["m"]["folds"]["none"]] == [4000]
    # Nothing to judge on: the raw scores are published.
    far = {**SPLITS, "purge_days": 200}
    calibrators, report = fit_calibrators(oof, far, "m", "m", MODELS, CALIBRATION)
    assert report["judging_folds"] == [] and report["m"]["method"] == "none"


def test_calibration_needs_the_raw_option():
    with pytest.raises(ValueError, match="must include none"):
        fit_calibrators(
            _folds(lambda t: t), SPLITS, "m", "m", MODELS, {**CALIBRATION, "methods": ["x"]}
        )


def test_feature_reference_is_each_pools_latest_observed_row():
    features = pd.concat([_features(), _features().assign(pool="p2", f1=np.nan)], ignore_index=True)
    features.loc[7, "observed"] = False
    records = build_feature_reference(features, ["apy", "f1"])
    assert records[0] == {"pool": "p1", "date": "2025-01-07", "apy": 5.0, "f1": 6.0}
    assert records[1]["pool"] == "p2" and records[1]["f1"] is None


def test_tree_ensembles_are_not_offered_isotonic_calibration():
    forest = {"m": {"type": "random_forest"}}
    _, report = fit_calibrators(_folds(lambda t: t), SPLITS, "m", "m", forest, CALIBRATION)
    assert set(report["m"]["folds"]) == {"none", "sigmoid"}
    _, report = fit_calibrators(_folds(lambda t: t), SPLITS, "m", "m", MODELS, CALIBRATION)
    assert set(report["m"]["folds"]) == {"none", "sigmoid", "isotonic"}
