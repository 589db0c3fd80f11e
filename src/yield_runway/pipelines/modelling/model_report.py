"""The Markdown model report written at the end of training."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .reporting import metrics_table


def _markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """Render a frame as a GitHub Markdown table (floats rounded, NaN left blank)."""

    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            return "" if np.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _data_section(pools_daily: pd.DataFrame, cleaning_report: dict[str, Any]) -> list[str]:
    """Pools, days, date range and the rows cleaning dropped, by reason."""
    observed = pools_daily.loc[pools_daily["observed"]]
    drops = pd.DataFrame(
        {
            "reason": list(cleaning_report["dropped_by_reason"]),
            "rows": list(cleaning_report["dropped_by_reason"].values()),
        }
    )
    return [
        "## Data",
        "",
        f"- Raw snapshots: {cleaning_report['rows_raw']:,}; kept {cleaning_report['rows_clean']:,};"
        f" dropped {cleaning_report['rows_dropped']:,} (APY outlier cap"
        f" {cleaning_report['apy_outlier_cap']:,.1f}%).",
        f"- Pools: {observed['pool'].nunique():,}; observed pool-days: {len(observed):,}"
        f" on a grid of {len(pools_daily):,}; dates {observed['date'].min():%Y-%m-%d} to"
        f" {observed['date'].max():%Y-%m-%d}.",
        "",
        _markdown_table(drops),
    ]


def _target_section(model_input_table: pd.DataFrame, metrics: dict[str, Any]) -> list[str]:
    """The label variant and its class balance overall, on the served rows and per split."""
    target = metrics["target"]
    splits = metrics["splits"]
    dates = model_input_table["date"]
    parts = {
        "all labelled": np.ones(len(dates), dtype=bool),
        "served population": model_input_table["served"].to_numpy(),
        "development": (dates <= pd.Timestamp(splits["development_end"])).to_numpy(),
        "holdout": (dates >= pd.Timestamp(splits["holdout_start"])).to_numpy(),
    }
    balance = pd.DataFrame(
        {
            "rows": [f"{mask.sum():,}" for mask in parts.values()],
            "Stable/Up share": [
                model_input_table["target"][mask].mean() for mask in parts.values()
            ],
        },
        index=list(parts),
    ).rename_axis("subset")
    return [
        "## Target",
        "",
        f"Down when the {target['future_stat']} APY of the next {target['horizon_days']} days is"
        f" more than {-100 * target['threshold']:.0f}% below today's (threshold"
        f" {target['threshold']}); apy == 0 rule: `{target['zero_apy_rule']}`.",
        "",
        _markdown_table(balance.reset_index()),
    ]


def _evaluation_section(metrics: dict[str, Any]) -> list[str]:
    """Split dates and the models-by-metrics table."""
    splits = metrics["splits"]
    folds = pd.DataFrame(splits["folds"])
    return [
        "## Evaluation",
        "",
        f"Development through {splits['development_end']} ({splits['development_rows']:,} rows);"
        f" purge {splits['purge_days']} days ({splits['purged_rows']:,} rows); holdout"
        f" {splits['holdout_start']}..{splits['holdout_end']} ({splits['holdout_rows']:,} rows),"
        " never used for selection. Walk-forward folds:",
        "",
        _markdown_table(folds),
        "",
        f"Champion: **{metrics['champion']}** (starred), the simplest candidate whose mean CV ROC"
        " AUC is within the CV noise (`selection.standard_errors` paired standard errors) of the"
        " best. Brier skill is against"
        f" the development Stable/Up rate ({metrics['development_positive_rate']:.3f}). Random"
        " forest OOB AUC is optimistic: bootstrap rows overlap in time.",
        "",
        _markdown_table(metrics_table(metrics)),
        "",
        *_calibration_lines(metrics),
        "",
        "![ROC curves](roc_curves.png)",
        "",
        "![Calibration](calibration_curve.png)",
    ]


def _calibration_lines(metrics: dict[str, Any]) -> list[str]:
    """How each served model's calibration was chosen, and the published model's reliability."""
    calibration = metrics["calibration"]
    rows = [
        {
            "served model": name,
            "chosen": calibration[name]["method"],
            **{f"Brier {m}": v for m, v in calibration[name]["mean_brier"].items()},
        }
        for name in sorted({metrics["champion"], metrics["legacy_model"]})
    ]
    reliability = pd.DataFrame(metrics["models"]["champion_calibrated"]["reliability"]["holdout"])
    return [
        "Calibration, chosen walk-forward: each of CV folds"
        f" {calibration['judging_folds']} judges every method fit on the out-of-fold scores purged"
        " before it (mean Brier there); a calibrator is published only when it beats the raw"
        " scores beyond the noise (`calibration.standard_errors`).",
        "",
        _markdown_table(pd.DataFrame(rows), digits=4),
        "",
        "Reliability of the published probabilities (`champion_calibrated`) on the holdout:",
        "",
        _markdown_table(reliability),
    ]


def _features_section(feature_importance: pd.DataFrame, top_n: int) -> list[str]:
    """The champion's top permutation importances."""
    return [
        "## Top features",
        "",
        "Drop in holdout ROC AUC when a feature is permuted (champion fit on development data):",
        "",
        _markdown_table(feature_importance.head(top_n), digits=4),
        "",
        "![Feature importance](feature_importance.png)",
    ]


def write_model_report(
    metrics: dict[str, Any],
    cleaning_report: dict[str, Any],
    pools_daily: pd.DataFrame,
    model_input_table: pd.DataFrame,
    feature_importance: pd.DataFrame,
    importance_params: dict[str, Any],
) -> str:
    """Write the model report: data, target balance, models by metrics, calibration, features."""
    sections = [
        ["# yield-runway model report"],
        _data_section(pools_daily, cleaning_report),
        _target_section(model_input_table, metrics),
        _evaluation_section(metrics),
        _features_section(feature_importance, importance_params["top_n"]),
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"
