"""No strategy can use a score whose model saw that day's label window."""

from __future__ import annotations

import pandas as pd
import pytest

from yield_runway.pipelines.backtest.scores import collect_out_of_time_scores

SPLITS = {
    "purge_days": 30,
    "folds": [
        {
            "fold": 0,
            "train_end": "2025-03-01",
            "validation_start": "2025-04-01",
            "validation_end": "2025-04-17",
        },
    ],
    "development_end": "2025-04-17",
    "holdout_start": "2025-05-18",
    "holdout_end": "2025-06-30",
}


def _predictions(
    cv_dates: list[str], holdout_dates: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    cv = pd.DataFrame(
        {
            "pool": "p",
            "date": pd.to_datetime(cv_dates),
            "target": 1,
            "fold": 0,
            "score_forest": 0.7,
        }
    )
    holdout = pd.DataFrame(
        {
            "pool": "p",
            "date": pd.to_datetime(holdout_dates),
            "target": 0,
            "score_forest": 0.4,
            "score_champion_calibrated": 0.9,
        }
    )
    return cv, holdout


def test_each_score_carries_the_model_that_made_it():
    cv, holdout = _predictions(["2025-04-01", "2025-04-17"], ["2025-05-18"])
    scores = collect_out_of_time_scores(cv, holdout, SPLITS, "forest")
    assert scores["window"].tolist() == ["fold_0", "fold_0", "holdout"]
    assert scores["train_end"].dt.strftime("%Y-%m-%d").tolist() == [
        "2025-03-01",
        "2025-03-01",
        "2025-04-17",
    ]
    # The raw champion score, never the calibrated one (its calibrator saw every fold).
    assert scores["p_stable_up"].tolist() == [0.7, 0.7, 0.4]
    assert (scores["date"] > scores["train_end"] + pd.Timedelta(days=30)).all()


@pytest.mark.parametrize(
    "cv_dates, holdout_dates",
    [
        (["2025-03-15"], ["2025-05-18"]),  # a fold-0 score inside its model's training labels
        (["2025-04-01"], ["2025-04-20"]),  # a holdout score before the holdout (in the purge)
    ],
)
def test_a_score_from_a_model_that_saw_the_day_is_refused(cv_dates, holdout_dates):
    cv, holdout = _predictions(cv_dates, holdout_dates)
    with pytest.raises(ValueError, match="outside their window|training labels reach"):
        collect_out_of_time_scores(cv, holdout, SPLITS, "forest")


def test_a_window_whose_purge_is_too_short_is_refused():
    leaky = {**SPLITS, "folds": [{**SPLITS["folds"][0], "train_end": "2025-03-20"}]}
    cv, holdout = _predictions(["2025-04-01"], ["2025-05-18"])
    with pytest.raises(ValueError, match="training labels reach"):
        collect_out_of_time_scores(cv, holdout, leaky, "forest")
