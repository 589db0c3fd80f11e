"""Realised performance of stored predictions: outcomes from the stored runs, then metrics.

The outcome of a prediction made on day d is the training label (`labels.label_rows`) computed on
a daily APY grid rebuilt from the stored hourly runs themselves: the last run of each pool-day is
that day's value (as `daily_aggregation: last` in training) and days without a run are NaN. The
latest day is still being written by the hourly runs, so the grid ends the day before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from yield_runway.labels import label_rows
from yield_runway.models.metrics import classification_metrics

KEYS = ["pool", "date"]
METRIC_COLUMNS = [
    "n",
    "positive_rate",
    "mean_prediction",
    "roc_auc",
    "pr_auc",
    "pr_auc_down",
    "brier",
    "log_loss",
    "ece",
]
PERFORMANCE_COLUMNS = ["scope", "date", "window_start", "n_days", *METRIC_COLUMNS, "auc_flagged"]
SUM_COLUMNS = ["count", "sum_p", "sum_y"]
CALIBRATION_COLUMNS = [
    "scope",
    "date",
    "window_start",
    "bin",
    "bin_lower",
    "bin_upper",
    "count",
    "mean_predicted",
    "observed_rate",
]


def as_utc_day(values: pd.Series) -> pd.Series:
    """Calendar days (UTC) as tz-naive midnight timestamps, from dates or timestamps."""
    stamps = pd.to_datetime(values)
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps.dt.normalize().astype("datetime64[us]")


def last_run_per_pool_day(runs: pd.DataFrame) -> pd.DataFrame:
    """Keep each pool-day's latest run: the day's value and the day's prediction."""
    ordered = runs.assign(date=as_utc_day(runs["date"])).sort_values(
        ["pool", "date", "run_timestamp"], kind="stable"
    )
    return ordered.drop_duplicates(KEYS, keep="last").reset_index(drop=True)


def daily_grid(daily: pd.DataFrame, last_day: pd.Timestamp) -> pd.DataFrame:
    """A regular daily grid per pool (first to last observed day to last_day), NaN APY in gaps."""
    observed = daily.loc[daily["date"] <= last_day, [*KEYS, "apy"]]
    span = observed.groupby("pool", sort=True, observed=True)["date"].agg(["min", "max"])
    n_days = ((span["max"] - span["min"]).dt.days + 1).to_numpy()
    pools = np.repeat(span.index.to_numpy(), n_days)
    starts = np.repeat(span["min"].to_numpy(), n_days)
    # Day offset within each pool's span: 0..n-1, built without a per-pool loop.
    offsets = np.arange(n_days.sum()) - np.repeat(np.cumsum(n_days) - n_days, n_days)
    grid = pd.DataFrame({"pool": pools, "date": starts + offsets.astype("timedelta64[D]")})
    grid["date"] = grid["date"].astype("datetime64[us]")
    return grid.merge(observed, on=KEYS, how="left", validate="one_to_one")


def matured_predictions(
    daily: pd.DataFrame, target_params: Mapping[str, Any], last_complete_day: pd.Timestamp
) -> pd.DataFrame:
    """Served predictions whose label is now known, with that label (target 1 = Stable/Up)."""
    labels = label_rows(daily_grid(daily, last_complete_day), target_params)
    served = daily.loc[daily["served"].fillna(False).astype(bool) & daily["p_stable_up"].notna()]
    matured = served.merge(labels[[*KEYS, "apyFuture", "target"]], on=KEYS, how="inner")
    matured = matured.loc[matured["target"].notna()]
    return matured.assign(target=matured["target"].astype("int8")).reset_index(drop=True)


def _metrics(frame: pd.DataFrame, n_bins: int) -> dict[str, float | int]:
    """classification_metrics of P(Stable/Up) against the realised labels of a frame."""
    return classification_metrics(frame["target"].to_numpy(), frame["p_stable_up"], n_bins)


def performance_table(matured: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """Metrics per prediction day and over the trailing window ending on each day, AUC flagged."""
    window = int(params["rolling_window_days"])
    n_bins = int(params["calibration_bins"])
    ordered = matured.sort_values("date", kind="stable")
    dates = ordered["date"].to_numpy()
    rows = []
    # AUC does not add up across days, so each window is scored on its own rows.
    for day in np.unique(dates):
        start = day - np.timedelta64(window - 1, "D")
        lo, mid, hi = np.searchsorted(dates, [start, day, day + np.timedelta64(1, "D")])
        for scope, first, begin in (("day", day, mid), ("rolling", start, lo)):
            chunk = ordered.iloc[begin:hi]
            rows.append(
                {
                    "scope": scope,
                    "date": day,
                    "window_start": first,
                    "n_days": int(chunk["date"].nunique()),
                    **_metrics(chunk, n_bins),
                }
            )
    table = pd.DataFrame(rows, columns=PERFORMANCE_COLUMNS[:-1])
    flagged = (table["n"] >= params["min_rows"]) & (table["roc_auc"] < params["min_auc"])
    return table.assign(auc_flagged=flagged.astype(bool))


def calibration_table(matured: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """Mean prediction, observed rate and count per probability bin: per day, rolling, overall."""
    window = int(params["rolling_window_days"])
    n_bins = int(params["calibration_bins"])
    if matured.empty:
        return pd.DataFrame(columns=CALIBRATION_COLUMNS)
    p = matured["p_stable_up"].to_numpy(dtype=float)
    binned = matured.assign(
        bin=np.minimum((np.clip(p, 0, 1) * n_bins).astype(int), n_bins - 1),
        count=1,
        sum_p=p,
        sum_y=matured["target"].astype(float),
    )
    sums = binned.groupby(["bin", "date"])[SUM_COLUMNS].sum()
    days = pd.date_range(matured["date"].min(), matured["date"].max(), freq="D", unit="us")
    full = pd.MultiIndex.from_product([range(n_bins), days], names=["bin", "date"])
    daily = sums.reindex(full, fill_value=0)
    # Counts and sums add up across days: a trailing window is a difference of running totals.
    running = daily.groupby(level="bin").cumsum()
    rolling = running - running.groupby(level="bin").shift(window, fill_value=0)
    overall = daily.groupby(level="bin").sum().assign(date=days[-1], window_start=days[0])
    frames = [
        daily.reset_index().assign(scope="day", window_start=lambda f: f["date"]),
        rolling.reset_index().assign(
            scope="rolling", window_start=lambda f: f["date"] - pd.Timedelta(days=window - 1)
        ),
        overall.reset_index().assign(scope="all"),
    ]
    frames = [frame.loc[frame["count"] > 0] for frame in frames]
    out = pd.concat(frames, ignore_index=True).sort_values(["scope", "date", "bin"], kind="stable")
    return out.assign(
        count=out["count"].astype("int64"),
        bin_lower=out["bin"] / n_bins,
        bin_upper=(out["bin"] + 1) / n_bins,
        mean_predicted=out["sum_p"] / out["count"],
        observed_rate=out["sum_y"] / out["count"],
    )[CALIBRATION_COLUMNS].reset_index(drop=True)


def performance_summary(
    performance: pd.DataFrame, matured: pd.DataFrame, params: Mapping[str, Any]
) -> dict[str, Any]:
    """The latest rolling window's metrics, overall metrics and whether AUC decay is flagged."""
    rolling = performance.loc[performance["scope"] == "rolling"]
    latest = rolling.iloc[-1].to_dict() if len(rolling) else None
    return {
        "n_matured": int(len(matured)),
        "first_prediction_day": None if matured.empty else matured["date"].min(),
        "last_prediction_day": None if matured.empty else matured["date"].max(),
        "overall": _metrics(matured, int(params["calibration_bins"])) if len(matured) else None,
        "latest_window": latest,
        "rolling_windows_flagged": int(rolling["auc_flagged"].sum()),
        "min_auc": params["min_auc"],
        "min_rows": params["min_rows"],
        "rolling_window_days": params["rolling_window_days"],
        "decay_flagged": bool(latest is not None and latest["auc_flagged"]),
    }
