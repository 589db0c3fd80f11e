"""Reporting nodes of the monitoring pipeline: the drift and realised-AUC plots."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: CI, Lambda and servers have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def plot_feature_drift(
    drift_report: list[dict[str, Any]], drift_summary: dict[str, Any]
) -> plt.Figure:
    """Bar chart of each feature's drift value against its threshold, drifted bars in red."""
    report = pd.DataFrame(drift_report).sort_values("value", na_position="first")
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(report) + 1.5))
    y = np.arange(len(report))
    colors = np.where(report["drifted"], "tab:red", "tab:blue")
    ax.barh(y, report["value"].fillna(0.0), color=colors)
    # Thresholds may differ per feature: one tick per bar rather than a single line.
    ax.scatter(report["threshold"], y, marker="|", s=200, color="black", label="threshold")
    labels = [
        f"{f} ({'JS' if s == 'jensen_shannon' else 'W/std'})"
        for f, s in zip(report["feature"], report["statistic"], strict=True)
    ]
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("drift (Wasserstein / reference std, or Jensen-Shannon distance)")
    ax.set_title(
        f"Feature drift: {drift_summary['n_drifted']} of {drift_summary['n_features']} drifted\n"
        f"run {drift_summary['current_run_timestamp']} vs training reference",
        fontsize=10,
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_realised_auc(performance: pd.DataFrame, params: dict[str, Any]) -> plt.Figure:
    """Realised ROC AUC per prediction day and over the rolling window, with the alert line."""
    fig, ax = plt.subplots(figsize=(9, 4))
    if performance.empty:
        ax.text(0.5, 0.5, "No matured predictions yet", ha="center", va="center")
        ax.set_axis_off()
        return fig
    for scope, style in (
        ("day", {"marker": ".", "linestyle": "none", "alpha": 0.5}),
        ("rolling", {}),
    ):
        rows = performance.loc[performance["scope"] == scope]
        label = (
            "per prediction day"
            if scope == "day"
            else f"rolling {params['rolling_window_days']} days"
        )
        ax.plot(pd.to_datetime(rows["date"]), rows["roc_auc"], label=label, **style)
    flagged = performance.loc[(performance["scope"] == "rolling") & performance["auc_flagged"]]
    ax.scatter(
        pd.to_datetime(flagged["date"]),
        flagged["roc_auc"],
        color="tab:red",
        zorder=3,
        label="flagged",
    )
    ax.axhline(params["min_auc"], color="tab:red", linestyle="--", linewidth=1, label="alert below")
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_ylim(0.3, 1.0)
    ax.set_xlabel("prediction day")
    ax.set_ylabel("realised ROC AUC (served)")
    ax.set_title("Realised performance of served predictions", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
