"""Tests of the probability metrics."""

from __future__ import annotations

import numpy as np
import pytest

from yield_runway.models.metrics import classification_metrics, expected_calibration_error


def test_ece_on_a_known_case():
    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.9, 0.1, 0.3])
    # Bin 9: mean p 0.9 vs rate 1 (2 rows); bin 1: 0.1 vs 0; bin 3: 0.3 vs 0.
    assert expected_calibration_error(y, p, 10) == pytest.approx((2 * 0.1 + 0.1 + 0.3) / 4)


def test_metrics_of_a_perfect_and_a_constant_scorer():
    y = np.array([0, 0, 1, 1, 1])
    perfect = classification_metrics(y, y.astype(float), 10)
    assert perfect["roc_auc"] == 1.0 and perfect["pr_auc"] == 1.0 and perfect["brier"] == 0.0
    constant = classification_metrics(y, np.full(5, 0.6), 10)
    assert constant["roc_auc"] == 0.5
    assert constant["brier"] == pytest.approx(np.mean((y - 0.6) ** 2))
    assert constant["ece"] == pytest.approx(0.0)
    assert constant["positive_rate"] == 0.6 and constant["n"] == 5


def test_single_class_gives_nan_auc():
    out = classification_metrics(np.ones(4), np.full(4, 0.7), 10)
    assert np.isnan(out["roc_auc"]) and out["brier"] == pytest.approx(0.09)


def test_brier_skill_against_the_training_rate():
    from yield_runway.models.metrics import brier_skill

    y = np.array([1, 1, 1, 0])
    # Reference: always 0.5 -> Brier 0.25. A scorer with Brier 0.0625 has skill 0.75.
    assert brier_skill(y, np.array([0.75, 0.75, 0.75, 0.25]), 0.5) == pytest.approx(0.75)
    assert brier_skill(y, np.full(4, 0.5), 0.5) == 0.0
    out = classification_metrics(y, np.full(4, 0.9), 10, base_rate=0.5)
    assert out["brier_skill"] == pytest.approx(1 - (3 * 0.01 + 0.81) / 4 / 0.25)


def test_reliability_table_by_hand():
    from yield_runway.models.metrics import reliability_table

    y = np.array([1, 0, 1, 1, 0])
    p = np.array([0.05, 0.15, 0.12, 0.95, 1.0])
    table = reliability_table(y, p, 10)
    assert [(row["bin_low"], row["n"]) for row in table] == [(0.0, 1), (0.1, 2), (0.9, 2)]
    assert table[1]["mean_prediction"] == pytest.approx(0.135)
    assert table[1]["observed_rate"] == 0.5 and table[2]["observed_rate"] == 0.5
