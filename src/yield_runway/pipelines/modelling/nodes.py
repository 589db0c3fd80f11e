"""Nodes of the modelling pipeline."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.inspection import permutation_importance

from yield_runway.labels import label_rows
from yield_runway.models.calibration import METHODS, CalibratedModel, ScoreCalibrator, recentre
from yield_runway.models.estimators import model_features, oob_roc_auc
from yield_runway.models.fitting import fit_model
from yield_runway.models.metrics import classification_metrics, reliability_table
from yield_runway.models.splits import holdout_rows, in_range, purged_splits
from yield_runway.progress import report_progress

logger = logging.getLogger(__name__)

ID_COLUMNS = ["pool", "date"]
TREE_TYPES = ("random_forest", "hist_gradient_boosting")
CHAMPION_CALIBRATED = "champion_calibrated"
LEGACY_CALIBRATED = "legacy_calibrated"


def build_model_input(
    pool_features: pd.DataFrame,
    feature_list: list[str],
    target_params: dict[str, Any],
    served_params: dict[str, Any],
) -> pd.DataFrame:
    """Label every observed pool-day and keep the labelled rows with their features."""
    labelled = label_rows(pool_features, target_params)
    labelled = labelled.loc[labelled["observed"] & labelled["target"].notna()]
    served = (labelled["apy"] > 0) & (labelled["n_samples"] >= served_params["min_samples"])
    table = labelled[ID_COLUMNS + feature_list + ["apyFuture", "pct_change", "target"]].assign(
        target=labelled["target"].astype("int8"), served=served
    )
    logger.info(
        "Model input: %d labelled pool-days from %d pools, %.1f%% Stable/Up, %d served rows",
        len(table),
        table["pool"].nunique(),
        100 * table["target"].mean(),
        int(served.sum()),
    )
    return table.reset_index(drop=True)


def make_evaluation_splits(
    model_input_table: pd.DataFrame,
    split_params: dict[str, Any],
    target_params: dict[str, Any],
    models: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Define walk-forward CV folds and the out-of-time holdout by date, purged by the horizon."""
    horizon = target_params["horizon_days"]
    purges = {"split.purge_days": split_params["purge_days"]}
    purges.update(
        {
            f"models.{name}.early_stopping.purge_days": spec["early_stopping"]["purge_days"]
            for name, spec in models.items()
            if "early_stopping" in spec
        }
    )
    for where, days in purges.items():
        if days < horizon:
            raise ValueError(
                f"{where} ({days}) must be at least the label horizon ({horizon}): shorter"
                " gaps leak overlapping labels"
            )
    splits = purged_splits(
        model_input_table["date"],
        split_params["holdout_fraction"],
        split_params["purge_days"],
        split_params["cv_folds"],
        split_params["min_train_days"],
    )
    dates = model_input_table["date"]
    for fold in splits["folds"]:
        fold["train_rows"] = int(in_range(dates, None, fold["train_end"]).sum())
        fold["validation_rows"] = int(
            in_range(dates, fold["validation_start"], fold["validation_end"]).sum()
        )
    splits["development_rows"] = int(in_range(dates, None, splits["development_end"]).sum())
    splits["holdout_rows"] = int(
        in_range(dates, splits["holdout_start"], splits["holdout_end"]).sum()
    )
    splits["purged_rows"] = len(dates) - splits["development_rows"] - splits["holdout_rows"]
    logger.info(
        "Splits: development to %s (%d rows), purge %d days (%d rows), holdout %s..%s (%d rows)",
        splits["development_end"],
        splits["development_rows"],
        splits["purge_days"],
        splits["purged_rows"],
        splits["holdout_start"],
        splits["holdout_end"],
        splits["holdout_rows"],
    )
    return splits


def _fit(spec: dict[str, Any], frame: pd.DataFrame, features: list[str]) -> BaseEstimator:
    """Fit a fresh estimator from its spec on a frame's features and target."""
    return fit_model(spec, frame, features)


def _score(model: BaseEstimator, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """P(Stable/Up) for each row of a frame."""
    return model.predict_proba(frame[features])[:, 1]


def cross_validate_models(
    model_input_table: pd.DataFrame,
    evaluation_splits: dict[str, Any],
    feature_list: list[str],
    models: dict[str, dict[str, Any]],
    calibration_params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Score every model on every purged walk-forward fold; keep the out-of-fold scores."""
    dates = model_input_table["date"]
    results: dict[str, Any] = {name: {"folds": []} for name in models}
    fold_frames = []
    for fold in evaluation_splits["folds"]:
        train = model_input_table.loc[in_range(dates, None, fold["train_end"])]
        valid = model_input_table.loc[
            in_range(dates, fold["validation_start"], fold["validation_end"])
        ]
        scores = {}
        for name, spec in models.items():
            report_progress(
                logger, "CV fold %d/%d: %s", fold["fold"] + 1, len(evaluation_splits["folds"]), name
            )
            p = _score(_fit(spec, train, feature_list), valid, feature_list)
            bins, base = calibration_params["ece_bins"], float(train["target"].mean())
            metrics = classification_metrics(valid["target"], p, bins, base)
            served = valid["served"].to_numpy()
            served_metrics = classification_metrics(valid["target"][served], p[served], bins, base)
            results[name]["folds"].append(
                {"fold": fold["fold"], **metrics, "served": served_metrics}
            )
            scores[f"score_{name}"] = p
        fold_frames.append(valid[["pool", "date", "target"]].assign(fold=fold["fold"], **scores))
    for name, entry in results.items():
        aucs = np.array([f["roc_auc"] for f in entry["folds"]])
        entry["roc_auc_mean"] = float(np.nanmean(aucs))
        entry["roc_auc_std"] = float(np.nanstd(aucs))
        # The served population (apy > 0, enough samples) is reported; selection uses all rows.
        served_aucs = np.array([f["served"]["roc_auc"] for f in entry["folds"]])
        entry["served_roc_auc_mean"] = float(np.nanmean(served_aucs))
        entry["served_roc_auc_std"] = float(np.nanstd(served_aucs))
        logger.info(
            "CV %-24s ROC AUC %.3f +/- %.3f", name, entry["roc_auc_mean"], entry["roc_auc_std"]
        )
    return results, pd.concat(fold_frames, ignore_index=True)


def select_champion(cv_results: dict[str, Any], params: dict[str, Any]) -> str:
    """Pick the simplest candidate whose CV ROC AUC is within the CV noise of the best one.

    Candidates are listed simplest first. The noise is `standard_errors` standard errors of the
    per-fold AUC differences between the best candidate and the simpler one (paired: folds share
    their difficulty), so a more complex model must beat a simpler one by more than that.
    Folds where either AUC is undefined (one class) are left out of a comparison; with fewer
    than two folds to compare there is no noise estimate and the better mean wins.
    """
    order = params["order"]
    unknown = [name for name in order if name not in cv_results]
    if unknown:
        raise ValueError(f"selection candidates without CV results: {', '.join(unknown)}")
    aucs = {name: np.array([f["roc_auc"] for f in cv_results[name]["folds"]]) for name in order}
    scored = [name for name in order if np.isfinite(aucs[name]).any()]
    if not scored:
        raise ValueError("no selection candidate has a defined CV ROC AUC on any fold")
    best = max(scored, key=lambda name: np.nanmean(aucs[name]))
    for name in scored:
        gap = (aucs[best] - aucs[name])[np.isfinite(aucs[best] - aucs[name])]
        noise = 0.0
        if len(gap) > 1:
            noise = params["standard_errors"] * gap.std(ddof=1) / np.sqrt(len(gap))
        if name == best or (len(gap) and gap.mean() <= noise):
            logger.info(
                "Champion: %s (CV ROC AUC %.3f; best %s %.3f, gap %.3f within %.3f)",
                name,
                np.nanmean(aucs[name]),
                best,
                np.nanmean(aucs[best]),
                gap.mean() if len(gap) else 0.0,
                noise,
            )
            return name
    raise AssertionError("unreachable: the best candidate is returned in the loop")


def fit_development_models(
    model_input_table: pd.DataFrame,
    evaluation_splits: dict[str, Any],
    feature_list: list[str],
    models: dict[str, dict[str, Any]],
) -> dict[str, BaseEstimator]:
    """Fit every model on all development rows (purged before the holdout)."""
    dev = model_input_table.loc[
        in_range(model_input_table["date"], None, evaluation_splits["development_end"])
    ]
    fitted = {}
    for name, spec in models.items():
        report_progress(logger, "Fitting %s on %d development rows", name, len(dev))
        fitted[name] = _fit(spec, dev, feature_list)
    return fitted


def _purged_fit_rows(
    cv_predictions: pd.DataFrame, fold: dict[str, Any], purge_days: int
) -> pd.DataFrame:
    """Out-of-fold rows whose label windows end before `fold` begins (purged like training)."""
    end = pd.Timestamp(fold["validation_start"]) - pd.Timedelta(days=purge_days + 1)
    return cv_predictions.loc[in_range(cv_predictions["date"], None, str(end.date()))]


def _judging_folds(
    cv_predictions: pd.DataFrame, evaluation_splits: dict[str, Any], params: dict[str, Any]
) -> list[dict[str, Any]]:
    """The latest `selection_folds` CV folds that have purged earlier scores of both classes."""
    purge = evaluation_splits["purge_days"]
    usable = [
        fold
        for fold in evaluation_splits["folds"]
        if _purged_fit_rows(cv_predictions, fold, purge)["target"].nunique() == 2
    ]
    return usable[-params["selection_folds"] :]


def _judge_calibration(
    cv_predictions: pd.DataFrame,
    column: str,
    folds: list[dict[str, Any]],
    purge_days: int,
    params: dict[str, Any],
) -> dict[str, list[dict[str, float]]]:
    """Per method, its metrics on each judging fold, fit on purged out-of-fold scores before it."""
    judged: dict[str, list[dict[str, float]]] = {m: [] for m in params["methods"]}
    for fold in folds:
        fit = _purged_fit_rows(cv_predictions, fold, purge_days).reset_index(drop=True)
        judge = cv_predictions.loc[cv_predictions["fold"] == fold["fold"]]
        fit_scores = _calibration_scores(fit, column, params)
        for method in params["methods"]:
            calibrator = ScoreCalibrator(method).fit(fit_scores, fit["target"])
            p = calibrator.transform(judge[column].to_numpy())
            metrics = classification_metrics(judge["target"], p, params["ece_bins"])
            judged[method].append(
                {
                    "fold": fold["fold"],
                    "fit_rows": len(fit),
                    **{k: metrics[k] for k in ("brier", "log_loss", "ece")},
                }
            )
    return judged


def _calibration_scores(
    cv_predictions: pd.DataFrame, column: str, params: dict[str, Any]
) -> np.ndarray:
    """Out-of-fold scores to fit calibrators on: re-centred on each fold's rate, if configured."""
    scores = cv_predictions[column].to_numpy(dtype=float)
    if not params["recentre_folds"]:
        return scores
    out = np.empty_like(scores)
    for _, rows in cv_predictions.groupby("fold", sort=True).indices.items():
        out[rows] = recentre(scores[rows], float(cv_predictions["target"].iloc[rows].mean()))
    return out


def _choose_calibration(judged: dict[str, list[dict[str, float]]], standard_errors: float) -> str:
    """The method with the largest Brier gain over raw scores, if beyond the noise; else none."""
    raw = np.array([block["brier"] for block in judged["none"]])
    best, best_gain = "none", 0.0
    for method, blocks in judged.items():
        gain = raw - np.array([block["brier"] for block in blocks])
        noise = standard_errors * gain.std(ddof=1) / np.sqrt(len(gain)) if len(gain) > 1 else 0.0
        if gain.mean() > noise and gain.mean() > best_gain:
            best, best_gain = method, float(gain.mean())
    return best


def fit_calibrators(
    cv_predictions: pd.DataFrame,
    evaluation_splits: dict[str, Any],
    champion: str,
    legacy_model: str,
    models: dict[str, dict[str, Any]],
    params: dict[str, Any],
) -> tuple[dict[str, ScoreCalibrator], dict[str, Any]]:
    """Choose each served model's calibration out of time, then fit it on every CV fold.

    Walk-forward: each of the latest `selection_folds` folds judges every method fit on the
    out-of-fold scores whose label windows end before the fold starts (purged by the horizon),
    so neither the scoring model nor the calibrator saw it, and raw scores of that fold are what
    it maps. A calibrator is published only when its Brier gain over the raw scores beats
    `standard_errors` standard errors across those folds (with no fold to judge on, raw scores
    are published); the chosen method is then refit on every fold's out-of-fold scores (all
    purged before the holdout). With `recentre_folds`, calibrators learn the shape of the
    scores, not the drift of the base rate between folds (see `recentre`).
    """
    unknown = [m for m in params["methods"] if m not in METHODS]
    if unknown or "none" not in params["methods"]:
        raise ValueError(f"calibration.methods must include none, from {METHODS}: {unknown}")
    purge = evaluation_splits["purge_days"]
    folds = _judging_folds(cv_predictions, evaluation_splits, params)
    if not folds:
        logger.warning(
            "No CV fold has purged earlier out-of-fold scores to judge calibration on:"
            " raw scores are published"
        )
    calibrators, report = {}, {"judging_folds": [f["fold"] for f in folds]}
    for name in sorted({champion, legacy_model}):
        column = f"score_{name}"
        # Tree ensembles are served in float32 (onnxruntime), whose rounding isotonic's steep
        # steps can stretch past the release's parity tolerance: they get `tree_methods` only.
        trees = models[name]["type"] in TREE_TYPES
        offered = [m for m in params["methods"] if not trees or m in params["tree_methods"]]
        judged = _judge_calibration(
            cv_predictions, column, folds, purge, {**params, "methods": offered}
        )
        chosen = _choose_calibration(judged, params["standard_errors"]) if folds else "none"
        calibrators[name] = ScoreCalibrator(chosen).fit(
            _calibration_scores(cv_predictions.reset_index(drop=True), column, params),
            cv_predictions["target"].to_numpy(),
        )
        mean_brier = {
            m: float(np.mean([b["brier"] for b in v])) if v else float("nan")
            for m, v in judged.items()
        }
        report[name] = {"method": chosen, "mean_brier": mean_brier, "folds": judged}
        logger.info(
            "Calibration of %s: %s (mean Brier on folds %s: %s)",
            name,
            chosen,
            report["judging_folds"],
            ", ".join(f"{m} {v:.4f}" for m, v in mean_brier.items()),
        )
    return calibrators, report


def predict_holdout(
    model_input_table: pd.DataFrame,
    evaluation_splits: dict[str, Any],
    feature_list: list[str],
    development_models: dict[str, BaseEstimator],
    champion: str,
    legacy_model: str,
    calibrators: dict[str, ScoreCalibrator],
) -> pd.DataFrame:
    """Score the holdout with every development model and the two calibrated served models."""
    holdout = holdout_rows(model_input_table, evaluation_splits)
    scores = {f"score_{n}": _score(m, holdout, feature_list) for n, m in development_models.items()}
    for served_name, name in ((CHAMPION_CALIBRATED, champion), (LEGACY_CALIBRATED, legacy_model)):
        scores[f"score_{served_name}"] = calibrators[name].transform(scores[f"score_{name}"])
    columns = ["pool", "date", "apy", "target", "served"]
    return holdout[columns].assign(**scores).reset_index(drop=True)


def compute_metrics(
    cv_results: dict[str, Any],
    holdout_predictions: pd.DataFrame,
    evaluation_splits: dict[str, Any],
    development_models: dict[str, BaseEstimator],
    model_input_table: pd.DataFrame,
    champion: str,
    legacy_model: str,
    calibration_selection: dict[str, Any],
    target_params: dict[str, Any],
    calibration_params: dict[str, Any],
) -> dict[str, Any]:
    """Collect CV, holdout (all rows and served population) and OOB metrics for every model."""
    bins = calibration_params["ece_bins"]
    served = holdout_predictions["served"].to_numpy()
    y = holdout_predictions["target"].to_numpy()
    dev_y = model_input_table.loc[
        in_range(model_input_table["date"], None, evaluation_splits["development_end"]), "target"
    ].to_numpy()
    # Brier skill is against the base rate the models trained on, not the holdout's own rate.
    base = float(dev_y.mean())
    report: dict[str, Any] = {}
    for name in [*cv_results, CHAMPION_CALIBRATED, LEGACY_CALIBRATED]:
        p = holdout_predictions[f"score_{name}"].to_numpy()
        entry: dict[str, Any] = {
            "holdout": classification_metrics(y, p, bins, base),
            "holdout_served": classification_metrics(y[served], p[served], bins, base),
            "reliability": {
                "holdout": reliability_table(y, p, bins),
                "holdout_served": reliability_table(y[served], p[served], bins),
            },
        }
        if name in cv_results:
            entry["cv"] = cv_results[name]
            oob = oob_roc_auc(development_models[name], dev_y)
            if oob is not None:
                entry["oob_roc_auc_optimistic"] = oob
        report[name] = entry
    auc = report[champion]["holdout"]["roc_auc"]
    if auc > 0.9:
        logger.warning("Champion holdout ROC AUC %.3f > 0.9: check for leakage", auc)
    return {
        "target": target_params,
        "splits": evaluation_splits,
        "rows": {
            "labelled": int(len(model_input_table)),
            "positive_rate": float(model_input_table["target"].mean()),
            "served": int(model_input_table["served"].sum()),
            "pools": int(model_input_table["pool"].nunique()),
        },
        "champion": champion,
        "legacy_model": legacy_model,
        "development_positive_rate": base,
        "calibration": calibration_selection,
        "models": report,
    }


def refit_served_model(
    model_input_table: pd.DataFrame,
    feature_list: list[str],
    models: dict[str, dict[str, Any]],
    name: str,
    calibrators: dict[str, ScoreCalibrator],
) -> CalibratedModel:
    """Refit a model on all labelled rows and wrap it with its calibrator for serving."""
    model = _fit(models[name], model_input_table, feature_list)
    logger.info("Refit %s on %d labelled rows", name, len(model_input_table))
    features = model_features(models[name], feature_list)
    return CalibratedModel(model=model, calibrator=calibrators[name], features=features)


def compute_feature_importance(
    model_input_table: pd.DataFrame,
    evaluation_splits: dict[str, Any],
    feature_list: list[str],
    development_models: dict[str, BaseEstimator],
    champion: str,
    params: dict[str, Any],
) -> pd.DataFrame:
    """Permutation importance (drop in holdout ROC AUC) of the champion's features."""
    holdout = holdout_rows(model_input_table, evaluation_splits)
    sample = holdout.sample(
        min(params["n_rows"], len(holdout)), random_state=params["random_state"]
    )
    result = permutation_importance(
        development_models[champion],
        sample[feature_list],
        sample["target"].to_numpy(),
        scoring="roc_auc",
        n_repeats=params["n_repeats"],
        random_state=params["random_state"],
        n_jobs=1,
    )
    return (
        pd.DataFrame(
            {
                "feature": feature_list,
                "importance_mean": result.importances_mean,
                "importance_std": result.importances_std,
            }
        )
        .sort_values("importance_mean", ascending=False)
        .reset_index(drop=True)
    )


def build_feature_reference(
    pool_features: pd.DataFrame, feature_list: list[str]
) -> list[dict[str, Any]]:
    """Each pool's latest observed feature row, as JSON records, for drift checks."""
    observed = pool_features.loc[pool_features["observed"]]
    latest = observed.groupby("pool", sort=True, observed=True).tail(1)
    records = latest[["pool", "date", *feature_list]].assign(
        date=latest["date"].dt.strftime("%Y-%m-%d")
    )
    # NaN is not JSON: missing values travel as null.
    return records.astype(object).where(records.notna(), None).to_dict(orient="records")
