"""Tests of the purged, date-based evaluation splits."""

from __future__ import annotations

import pandas as pd
import pytest

from yield_runway.models.splits import in_range, purged_splits


def _dates(n: int) -> pd.Series:
    # Several pools share each date: splits must be by date, not by row count.
    return pd.Series(pd.date_range("2025-01-01", periods=n, freq="D").repeat(3))


def test_purge_gap_between_every_train_and_validation_date():
    dates = _dates(300)
    splits = purged_splits(dates, holdout_fraction=0.3, purge_days=30, n_folds=4, min_train_days=60)
    assert splits["holdout_start"] == "2025-07-30"  # date 210 of 300
    assert splits["development_end"] == "2025-06-29"
    windows = [
        (f["train_end"], f["validation_start"], f["validation_end"]) for f in splits["folds"]
    ]
    windows.append((splits["development_end"], splits["holdout_start"], splits["holdout_end"]))
    for train_end, start, end in windows:
        train = dates[in_range(dates, None, train_end)]
        valid = dates[in_range(dates, start, end)]
        assert len(train) and len(valid)
        # No training date within 30 days before any validation date.
        assert (valid.min() - train.max()).days > 30
    # Validation blocks are contiguous, ordered and end at the development end.
    starts = [pd.Timestamp(f["validation_start"]) for f in splits["folds"]]
    assert starts == sorted(starts)
    assert splits["folds"][-1]["validation_end"] == splits["development_end"]
    for before, after in zip(splits["folds"], splits["folds"][1:], strict=False):
        gap = pd.Timestamp(after["validation_start"]) - pd.Timestamp(before["validation_end"])
        assert gap.days == 1


def test_too_short_history_is_a_clear_error():
    with pytest.raises(ValueError, match="Too few dates for 4 purged folds"):
        purged_splits(_dates(100), 0.3, 30, 4, 60)


def test_holdout_rows_are_those_dated_in_the_holdout():
    from yield_runway.models.splits import holdout_rows

    table = pd.DataFrame({"date": pd.date_range("2025-01-01", periods=6), "x": range(6)})
    rows = holdout_rows(table, {"holdout_start": "2025-01-03", "holdout_end": "2025-01-05"})
    assert rows["x"].tolist() == [2, 3, 4]
