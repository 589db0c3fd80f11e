"""Walk-forward forecast of the forward median APY, and its errors against naive forecasts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from .scores import check_unseen, scoring_windows


def _fit_predict(
    train: pd.DataFrame, test: pd.DataFrame, features: list[str], params: Mapping[str, Any]
) -> np.ndarray:
    """Fit the regressor on log1p(apyFuture) of `train`; predict the APY of `test`."""
    # A feature with no value yet in an early window (a 30-day change on a young history) is
    # left out of that window's fit: the binner cannot bin an all-missing column.
    features = [name for name in features if train[name].notna().any()]
    model = HistGradientBoostingRegressor(**params["model"])
    # log1p: APY spans five orders of magnitude; on the raw scale a few spikes would set the fit.
    model.fit(train[features], np.log1p(train["apyFuture"]))
    return np.expm1(model.predict(test[features])).clip(min=0.0)


def forecast_forward_apy(
    model_input_table: pd.DataFrame, evaluation_splits: Mapping[str, Any], params: Mapping[str, Any]
) -> pd.DataFrame:
    """Out-of-time forecasts of apyFuture: each window's model fit on rows dated <= train_end."""
    features = list(params["features"])
    table = model_input_table.assign(date=pd.to_datetime(model_input_table["date"]))
    parts = []
    for window in scoring_windows(evaluation_splits).itertuples():
        # Rows dated <= train_end have label windows that end before the window starts (purge).
        train = table.loc[table["date"] <= window.train_end]
        test = table.loc[table["date"].between(window.start, window.end)]
        if train.empty or test.empty:
            continue
        part = test[["pool", "date", "apy", "apy_mean_30d", "apyFuture"]].assign(
            window=window.window,
            train_end=window.train_end,
            forecast=_fit_predict(train, test, features, params),
        )
        parts.append(part)
    forecasts = pd.concat(parts, ignore_index=True)
    # As for the scores: no forecast may come from a fit whose labels reach its day.
    check_unseen(forecasts, int(evaluation_splits["purge_days"]))
    return forecasts.sort_values(["date", "pool"], ignore_index=True)


def _errors(actual: pd.Series, predicted: pd.Series) -> dict[str, float]:
    """MAE and RMSE in APY points."""
    error = predicted.to_numpy() - actual.to_numpy()
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        # The mean error: a log-scale fit mapped back forecasts low (a median, not a mean).
        "bias": float(np.mean(error)),
    }


def evaluate_apy_forecast(apy_forecasts: pd.DataFrame) -> dict[str, Any]:
    """MAE/RMSE of the forecast, persistence (today's APY) and the 30-day mean, per period."""
    periods = {
        "all": apy_forecasts,
        "cv": apy_forecasts.loc[apy_forecasts["window"] != "holdout"],
        "holdout": apy_forecasts.loc[apy_forecasts["window"] == "holdout"],
    }
    predictors = {"forecast": "forecast", "persistence": "apy", "mean_30d": "apy_mean_30d"}
    report: dict[str, Any] = {}
    for period, rows in periods.items():
        if rows.empty:
            continue
        report[period] = {
            "rows": len(rows),
            **{
                name: _errors(rows["apyFuture"], rows[column])
                for name, column in predictors.items()
            },
        }
    return report
