"""Nodes of the monitoring pipeline: drift of the latest run, realised performance, alerts."""

from __future__ import annotations

import json
import logging
from typing import Any

import pandas as pd

from yield_runway.monitoring import alerts, drift, realised
from yield_runway.monitoring.partitions import Partitions, runs_by_day, select_run

logger = logging.getLogger(__name__)

# Only these columns of a stored run matter for realised performance; the rest is dropped on load
# so a long lookback of hourly runs stays small in memory.
REALISED_COLUMNS = ["pool", "date", "run_timestamp", "apy", "served", "p_stable_up"]


def _json_safe(value: Any) -> Any:
    """Plain JSON types: NaN and NaT become null, timestamps ISO text, numpy scalars Python."""
    return json.loads(pd.Series([value]).to_json(orient="values", date_format="iso"))[0]


def load_current_run(
    hourly_predictions: Partitions, params: dict[str, Any], partition_format: str
) -> pd.DataFrame:
    """Load the hourly run that drift is measured on: the configured one, else the latest."""
    run = select_run(hourly_predictions, params["current_run"], partition_format)
    logger.info("Drift: current run %s", run)
    return hourly_predictions[run]()


def _served(frame: pd.DataFrame) -> pd.Series:
    """The stored served flag as booleans (a missing flag is not served)."""
    return frame["served"].fillna(False).astype(bool)


def reference_population(reference: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Training reference rows of pools alive at the end of training, served-like if asked."""
    dates = pd.to_datetime(reference["date"])
    keep = pd.Series(True, index=reference.index)
    if params["reference_max_age_days"] is not None:
        keep &= dates >= dates.max() - pd.Timedelta(days=params["reference_max_age_days"])
    if params["population"] == "served":
        # The reference has no sample count: apy > 0 is the part of the served rule it can apply.
        keep &= reference["apy"] > 0
    return reference.loc[keep]


def current_population(current_run: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Rows of the current run that drift is measured on: all pools or the served ones."""
    if params["population"] not in ("all", "served"):
        raise ValueError(f"drift population must be all or served, got {params['population']!r}")
    return (
        current_run.loc[_served(current_run)] if params["population"] == "served" else current_run
    )


def compute_feature_drift(
    feature_reference: list[dict[str, Any]],
    current_run: pd.DataFrame,
    feature_list: list[str],
    params: dict[str, Any],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Compare the model features of the current run (less the excluded ones) with the reference."""
    reference = reference_population(pd.DataFrame.from_records(feature_reference), params)
    current = current_population(current_run, params)
    excluded = [f for f in feature_list if f in set(params["excluded_features"])]
    compared = [f for f in feature_list if f not in excluded]
    report = drift.drift_report(reference, current, compared, params)
    summary = {
        "excluded_features": excluded,
        "current_run_timestamp": current_run["run_timestamp"].max(),
        "population": params["population"],
        "n_current": len(current),
        "n_reference": len(reference),
        "reference_date": pd.to_datetime(reference["date"]).max(),
        **drift.drift_summary(report),
    }
    logger.info(
        "Drift: %d of %d features drifted %s",
        summary["n_drifted"],
        summary["n_features"],
        summary["drifted_features"],
    )
    return _json_safe(report), _json_safe(summary)


def collect_daily_predictions(
    hourly_predictions: Partitions, params: dict[str, Any], partition_format: str
) -> pd.DataFrame:
    """One row per pool-day within the lookback: the day's last run (value and prediction)."""
    days = []
    # Reduced a day at a time: memory holds one day of hourly runs, not the whole lookback.
    for ids in runs_by_day(hourly_predictions, params["lookback_days"], partition_format).values():
        runs = pd.concat([hourly_predictions[i]()[REALISED_COLUMNS] for i in ids])
        days.append(realised.last_run_per_pool_day(runs))
    if not days:
        return pd.DataFrame(columns=REALISED_COLUMNS)
    daily = pd.concat(days, ignore_index=True)
    logger.info(
        "Realised: %d pool-days from %d days of stored runs", len(daily), daily["date"].nunique()
    )
    return daily


def evaluate_realised_performance(
    daily_predictions: pd.DataFrame, target_params: dict[str, Any], params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Score matured served predictions against their labels: per day, rolling and overall."""
    if daily_predictions.empty:
        matured = daily_predictions.assign(target=pd.Series(dtype="int8"))
        last_complete_day = None
    else:
        # The latest day is still being written by the hourly runs: its value is not final.
        last_complete_day = daily_predictions["date"].max() - pd.Timedelta(days=1)
        matured = realised.matured_predictions(daily_predictions, target_params, last_complete_day)
    performance = realised.performance_table(matured, params)
    calibration = realised.calibration_table(matured, params)
    summary = {
        "horizon_days": target_params["horizon_days"],
        "pool_days_stored": len(daily_predictions),
        "last_complete_day": last_complete_day,
        **realised.performance_summary(performance, matured, params),
    }
    latest = summary["latest_window"] or {}
    logger.info(
        "Realised: %d matured served predictions; latest %d-day window AUC %s (n=%s)%s",
        summary["n_matured"],
        params["rolling_window_days"],
        latest.get("roc_auc"),
        latest.get("n"),
        ", DECAY FLAGGED" if summary["decay_flagged"] else "",
    )
    return performance, calibration, _json_safe(summary)


def send_monitoring_alerts(
    drift_report: list[dict[str, Any]],
    drift_summary: dict[str, Any],
    realised_summary: dict[str, Any],
    webhook: dict[str, Any] | None,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Post an alert when drift or decay is flagged and a webhook is configured; record it."""
    payload = alerts.build_message(drift_summary, drift_report, realised_summary, params)
    return alerts.send_alert(payload, webhook, params)
