"""Out-of-time scores: which model scored which day, and proof it never saw that day's label."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

HOLDOUT = "holdout"


def scoring_windows(splits: Mapping[str, Any]) -> pd.DataFrame:
    """One row per out-of-time window (each CV fold, then the holdout), with its train_end."""
    rows = [
        {
            "window": f"fold_{fold['fold']}",
            "fold": int(fold["fold"]),
            "train_end": fold["train_end"],
            "start": fold["validation_start"],
            "end": fold["validation_end"],
        }
        for fold in splits["folds"]
    ]
    # The holdout was scored by the development models, fit on dates up to development_end.
    rows.append(
        {
            "window": HOLDOUT,
            "fold": -1,
            "train_end": splits["development_end"],
            "start": splits["holdout_start"],
            "end": splits["holdout_end"],
        }
    )
    windows = pd.DataFrame(rows)
    for column in ("train_end", "start", "end"):
        windows[column] = pd.to_datetime(windows[column])
    return windows


def check_unseen(scores: pd.DataFrame, purge_days: int) -> None:
    """Raise unless every score's model trained only on label windows that end before its day."""
    # A training row dated t has its label window t+1..t+horizon, and purge_days >= horizon:
    # train_end + purge_days < date means no training label reached the scored day or after.
    seen = scores["date"] <= scores["train_end"] + pd.Timedelta(days=purge_days)
    if seen.any():
        first = scores.loc[seen].iloc[0]
        raise ValueError(
            f"{int(seen.sum())} scores come from a model whose training labels reach their day "
            f"(first: pool {first['pool']} on {first['date']:%Y-%m-%d}, {first['window']} "
            f"trained to {first['train_end']:%Y-%m-%d})"
        )
    if scores.duplicated(["pool", "date"]).any():
        raise ValueError("a pool-day is scored by more than one window")


def collect_out_of_time_scores(
    cv_predictions: pd.DataFrame,
    holdout_predictions: pd.DataFrame,
    evaluation_splits: Mapping[str, Any],
    champion_name: str,
) -> pd.DataFrame:
    """The champion's raw out-of-fold and holdout scores, each tagged with its model's train_end."""
    column = f"score_{champion_name}"
    windows = scoring_windows(evaluation_splits)
    cv = cv_predictions[["pool", "date", "target", "fold", column]]
    holdout = holdout_predictions[["pool", "date", "target", column]].assign(fold=-1)
    scores = pd.concat([cv, holdout], ignore_index=True).rename(columns={column: "p_stable_up"})
    scores["date"] = pd.to_datetime(scores["date"])
    scores = scores.merge(windows, on="fold", how="left", validate="many_to_one")
    # A row outside its own window's dates was not scored out of time by that window's model.
    outside = scores["window"].isna() | (scores["date"] < scores["start"])
    outside |= scores["date"] > scores["end"]
    if outside.any():
        raise ValueError(f"{int(outside.sum())} scores lie outside their window's dates")
    check_unseen(scores, int(evaluation_splits["purge_days"]))
    columns = ["pool", "date", "window", "train_end", "target", "p_stable_up"]
    return scores[columns].sort_values(["date", "pool"], ignore_index=True)
