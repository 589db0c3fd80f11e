"""Reporting nodes of the modelling pipeline: plots and the console metrics table."""

from __future__ import annotations

import logging
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: CI, Lambda and servers have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from .nodes import CHAMPION_CALIBRATED  # noqa: E402

logger = logging.getLogger(__name__)


def _holdout_span(metrics: dict[str, Any]) -> str:
    """The holdout's first and last date, as text."""
    return f"{metrics['splits']['holdout_start']}..{metrics['splits']['holdout_end']}"


def metrics_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """One row per model: CV and holdout metrics, served-population AUC."""
    rows = []
    for name, entry in metrics["models"].items():
        cv = entry.get("cv", {})
        holdout, served = entry["holdout"], entry["holdout_served"]
        rows.append(
            {
                "model": name + (" *" if name == metrics["champion"] else ""),
                "cv_auc": cv.get("roc_auc_mean", np.nan),
                "cv_auc_std": cv.get("roc_auc_std", np.nan),
                "cv_served_auc": cv.get("served_roc_auc_mean", np.nan),
                "holdout_auc": holdout["roc_auc"],
                "pr_auc": holdout["pr_auc"],
                "brier": holdout["brier"],
                "brier_skill": holdout["brier_skill"],
                "log_loss": holdout["log_loss"],
                "ece": holdout["ece"],
                "served_auc": served["roc_auc"],
                "served_brier": served["brier"],
                "served_brier_skill": served["brier_skill"],
                "served_ece": served["ece"],
            }
        )
    return pd.DataFrame(rows)


def report_metrics_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """Log the models-by-metrics table (the champion is starred) and return it."""
    table = metrics_table(metrics)
    logger.info(
        "Models by metrics (holdout %s..%s):\n%s",
        metrics["splits"]["holdout_start"],
        metrics["splits"]["holdout_end"],
        table.to_string(index=False, float_format="%.3f"),
    )
    return table


def plot_roc_curves(holdout_predictions: pd.DataFrame, metrics: dict[str, Any]) -> plt.Figure:
    """ROC curve of every model on the out-of-time holdout."""
    fig, ax = plt.subplots(figsize=(6.5, 6))
    y = holdout_predictions["target"].to_numpy()
    for column in [c for c in holdout_predictions.columns if c.startswith("score_")]:
        name = column.removeprefix("score_")
        fpr, tpr, _ = roc_curve(y, holdout_predictions[column])
        auc = metrics["models"][name]["holdout"]["roc_auc"]
        ax.plot(fpr, tpr, lw=2 if name == CHAMPION_CALIBRATED else 1.2, label=f"{name} ({auc:.3f})")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(
        xlabel="False positive rate",
        ylabel="True positive rate (Stable/Up)",
        title=f"Holdout ROC, {_holdout_span(metrics)}",
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_calibration(
    holdout_predictions: pd.DataFrame, metrics: dict[str, Any], calibration_params: dict[str, Any]
) -> plt.Figure:
    """Reliability diagram of the champion's raw and calibrated holdout probabilities."""
    bins = calibration_params["ece_bins"]
    edges = np.linspace(0, 1, bins + 1)
    y = holdout_predictions["target"].to_numpy()
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(6.5, 7), height_ratios=[3, 1], sharex=True)
    for name in (metrics["champion"], CHAMPION_CALIBRATED):
        p = holdout_predictions[f"score_{name}"].to_numpy()
        index = np.minimum((p * bins).astype(int), bins - 1)
        counts = np.bincount(index, minlength=bins)
        keep = counts > 0
        mean_p = np.bincount(index, weights=p, minlength=bins)[keep] / counts[keep]
        rate = np.bincount(index, weights=y, minlength=bins)[keep] / counts[keep]
        ece = metrics["models"][name]["holdout"]["ece"]
        ax.plot(mean_p, rate, marker="o", label=f"{name} (ECE {ece:.3f})")
        hist.hist(p, bins=edges, histtype="step", label=name)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(ylabel="Observed Stable/Up rate", title="Calibration on the holdout")
    ax.legend(fontsize=8)
    hist.set(xlabel="Predicted P(Stable/Up)", ylabel="Rows")
    fig.tight_layout()
    return fig


def plot_feature_importance(
    feature_importance: pd.DataFrame, metrics: dict[str, Any], params: dict[str, Any]
) -> plt.Figure:
    """Bar chart of the champion's top permutation importances on the holdout."""
    top = feature_importance.head(params["top_n"]).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(top) + 1.5))
    ax.barh(top["feature"], top["importance_mean"], xerr=top["importance_std"], color="tab:blue")
    ax.set(
        xlabel="Drop in holdout ROC AUC when permuted",
        title=f"Feature importance: {metrics['champion']}",
    )
    fig.tight_layout()
    return fig
