"""Fitting a candidate on a frame of labelled pool-days, with early stopping on a time split."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from yield_runway.models.estimators import build_estimator, model_features

logger = logging.getLogger(__name__)


class TooFewDatesError(ValueError):
    """The dates cannot hold a fit block, a purge and a validation block."""


def inner_time_split(
    dates: pd.Series, validation_fraction: float, purge_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the earlier rows (fit) and the last dates (validation), purged between them."""
    unique = np.sort(pd.to_datetime(dates).unique())
    start = pd.Timestamp(unique[int(np.floor(len(unique) * (1 - validation_fraction)))])
    dates = pd.to_datetime(dates)
    fit = (dates < start - pd.Timedelta(days=purge_days)).to_numpy()
    validation = (dates >= start).to_numpy()
    if not fit.any() or not validation.any():
        raise TooFewDatesError(
            f"early stopping needs rows on both sides of a {purge_days}-day purge; "
            f"the dates run {pd.Timestamp(unique[0]).date()}..{pd.Timestamp(unique[-1]).date()}"
        )
    return fit, validation


def stopping_iterations(
    spec: Mapping[str, Any], frame: pd.DataFrame, feature_list: list[str]
) -> int:
    """Boosting iterations that score best (log loss by default) on the last dates, fit before."""
    stop = spec["early_stopping"]
    fit, validation = inner_time_split(
        frame["date"], stop["validation_fraction"], stop["purge_days"]
    )
    features = model_features(spec, feature_list)
    booster = build_estimator(spec, feature_list)[-1]  # FillEmptyColumns -> booster
    fill = clone(booster[0]).fit(frame.loc[fit, features])
    model = clone(booster[-1]).set_params(
        early_stopping=True,
        n_iter_no_change=stop["n_iter_no_change"],
        scoring=stop.get("scoring", "loss"),
    )
    model.fit(
        fill.transform(frame.loc[fit, features]),
        frame.loc[fit, "target"].to_numpy(),
        X_val=fill.transform(frame.loc[validation, features]),
        y_val=frame.loc[validation, "target"].to_numpy(),
    )
    # validation_score_ holds the score (-log loss for "loss") before the first and after every
    # iteration, higher is better; n_iter_ also counts the iterations run past the best one.
    return int(np.argmax(model.validation_score_[1:])) + 1


def fit_model(spec: Mapping[str, Any], frame: pd.DataFrame, feature_list: list[str]) -> Pipeline:
    """Fit a fresh estimator from its spec on a frame's features and target.

    A spec with `early_stopping` first finds its iterations on an inner, purged time split of
    the frame, then refits on every row with that many.
    """
    options = {}
    if "early_stopping" in spec:
        try:
            options = {"max_iter": stopping_iterations(spec, frame, feature_list)}
        except TooFewDatesError as error:
            # An early walk-forward fold of a short history: its bound, said out loud.
            logger.warning("%s: fitting %d iterations, its max_iter", error, spec["max_iter"])
    estimator = build_estimator({**spec, **options}, feature_list)
    features = model_features(spec, feature_list)
    return estimator.fit(frame[features], frame["target"].to_numpy())
