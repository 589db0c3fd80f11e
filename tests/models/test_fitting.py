"""Fitting candidates: early stopping on an inner, purged time split."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from yield_runway.models.fitting import fit_model, inner_time_split, stopping_iterations

SPEC = {
    "type": "hist_gradient_boosting",
    "max_iter": 300,
    "learning_rate": 0.3,
    "max_depth": 3,
    "random_state": 0,
    "early_stopping": {
        "validation_fraction": 0.25,
        "purge_days": 5,
        "n_iter_no_change": 10,
        "scoring": "loss",
    },
}


def _frame(days: int = 80, per_day: int = 40, seed: int = 0) -> pd.DataFrame:
    """A weak signal in `a` and pure noise in `b`: boosting overfits quickly past a few trees."""
    rng = np.random.default_rng(seed)
    n = days * per_day
    a, b = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame(
        {
            "date": pd.Timestamp("2025-01-01")
            + pd.to_timedelta(np.repeat(range(days), per_day), "D"),
            "a": a,
            "b": b,
            "target": (rng.random(n) < 1 / (1 + np.exp(-0.5 * a))).astype(int),
        }
    )


def test_inner_split_is_by_date_with_a_purge():
    dates = pd.Series(pd.date_range("2025-01-01", periods=40)).repeat(3).reset_index(drop=True)
    fit, validation = inner_time_split(dates, 0.25, 5)
    # The last 10 of 40 dates validate; fit dates end 5 days before the first of them.
    assert dates[validation].min() == pd.Timestamp("2025-01-31")
    assert dates[fit].max() == pd.Timestamp("2025-01-25")
    assert not (fit & validation).any() and fit.sum() == 25 * 3


def test_early_stopping_picks_the_iterations_that_score_best_out_of_time():
    frame = _frame()
    best = stopping_iterations(SPEC, frame, ["a", "b"])
    assert 1 <= best < 100
    model = fit_model(SPEC, frame, ["a", "b"])
    booster = model[-1][-1]
    # Refit on every row with exactly the chosen iterations, no early stopping of its own.
    assert booster.n_iter_ == best and booster.early_stopping is False
    # Without the stop it runs to its bound and fits the noise: worse on fresh data.
    bound = fit_model({k: v for k, v in SPEC.items() if k != "early_stopping"}, frame, ["a", "b"])
    assert bound[-1][-1].n_iter_ == 300
    fresh = _frame(seed=1)
    loss = {
        name: -np.mean(
            np.log(np.where(fresh["target"], p := m.predict_proba(fresh[["a", "b"]])[:, 1], 1 - p))
        )
        for name, m in (("stopped", model), ("bound", bound))
    }
    assert loss["stopped"] < loss["bound"]


def test_a_history_too_short_to_split_fits_the_bound_and_says_so(caplog):
    short = _frame(days=6)
    with caplog.at_level(logging.WARNING):
        model = fit_model({**SPEC, "max_iter": 7}, short, ["a", "b"])
    assert model[-1][-1].n_iter_ == 7
    assert "early stopping needs rows on both sides of a 5-day purge" in caplog.text
    with pytest.raises(ValueError, match="5-day purge"):
        inner_time_split(short["date"], 0.25, 5)
