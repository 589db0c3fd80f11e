"""Tests of the APY-runway label on known series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yield_runway.labels import future_apy, label_rows


def _grid(apy: list[float | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pool": "p1",
            "date": pd.date_range("2025-01-01", periods=len(apy), freq="D"),
            "apy": np.array([np.nan if a is None else a for a in apy], dtype=float),
        }
    )


PARAMS = {
    "horizon_days": 3,
    "threshold": -0.2,
    "future_stat": "median",
    "min_future_samples": 2,
    "zero_apy_rule": "exclude",
}


def test_future_stats_cover_the_next_horizon_days():
    grid = _grid([10.0, 1.0, 2.0, 9.0, 4.0, 5.0])
    np.testing.assert_allclose(future_apy(grid, 3, "median", 1)[:3], [2.0, 4.0, 5.0])
    np.testing.assert_allclose(future_apy(grid, 3, "mean", 1)[:3], [4.0, 5.0, 6.0])
    np.testing.assert_allclose(future_apy(grid, 3, "point", 1)[:3], [9.0, 4.0, 5.0])
    # The last `horizon` days have no complete future window.
    assert future_apy(grid, 3, "median", 1)[3:].isna().all()


def test_label_on_known_series():
    # Day 0: future median 8 vs 10 is -20%: exactly the threshold, so Stable/Up (pct >= -0.2).
    # Day 1: future median of (8, 5, 7) = 7 vs 8 is -12.5%: Stable/Up.
    # Day 2: future median of (5, 7, 4) = 5 vs 8 is -37.5%: Down.
    # Day 3: future median of (7, 4, 4) = 4 vs 5 is -20%: Stable/Up again.
    out = label_rows(_grid([10.0, 8.0, 8.0, 5.0, 7.0, 4.0, 4.0]), PARAMS)
    assert out["apyFuture"].tolist()[:4] == [8.0, 7.0, 5.0, 4.0]
    assert out["target"].tolist()[:4] == [1.0, 1.0, 0.0, 1.0]
    assert out["target"].iloc[4:].isna().all()


def test_version_a_threshold_zero_labels_any_drop_as_down():
    out = label_rows(_grid([10.0, 8.0, 8.0, 5.0, 7.0, 4.0, 4.0]), {**PARAMS, "threshold": 0.0})
    assert out["target"].tolist()[:2] == [0.0, 0.0]


def test_min_future_samples_and_gaps():
    out = label_rows(_grid([10.0, None, None, 12.0, 20.0, 3.0, 30.0, 30.0]), PARAMS)
    # Day 0 sees one observed future day of three: too few for a median.
    assert np.isnan(out["target"].iloc[0])
    # Day 1 has a complete future but no APY of its own: no label.
    assert out["apyFuture"].iloc[1] == 16.0 and np.isnan(out["target"].iloc[1])
    # Day 3: median(20, 3, 30) = 20 vs 12: Stable/Up; day 4: median(3, 30, 30) = 30: Stable/Up.
    assert out["target"].tolist()[3:5] == [1.0, 1.0]


@pytest.mark.parametrize("rule, expected", [("exclude", np.nan), ("stable_up", 1.0)])
def test_zero_apy_rule(rule, expected):
    out = label_rows(_grid([0.0, 1.0, 2.0, 3.0]), {**PARAMS, "zero_apy_rule": rule})
    np.testing.assert_equal(out["target"].iloc[0], expected)


def test_unknown_options_are_rejected():
    with pytest.raises(ValueError, match="future_stat"):
        label_rows(_grid([1.0] * 5), {**PARAMS, "future_stat": "max"})
    with pytest.raises(ValueError, match="zero_apy_rule"):
        label_rows(_grid([1.0] * 5), {**PARAMS, "zero_apy_rule": "drop"})
