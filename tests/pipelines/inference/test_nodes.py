"""Tests of inference nodes on small hand-built inputs."""

from __future__ import annotations

import pandas as pd
import pytest

from yield_runway.pipelines.inference.nodes import advance_feature_state, enrich_snapshot


def test_enriched_objects_find_their_predictions_despite_padded_ids():
    scored = pd.DataFrame(
        {
            "pool": ["p1"],
            "predictedClass": ["Stable/Up"],
            "predictedProbability": [80.0],
            "binnedConfidence": [3],
            "apy": [5.0],
            "apy_std_7d": [float("nan")],
        }
    )
    run = pd.Timestamp("2025-11-01T00:30:00Z")
    objects = [{"pool": " p1 ", "apy": 5.0}, {"pool": "p2", "apy": 1.0}]
    latest, hourly = enrich_snapshot(
        objects, scored, run, ["apy", "apy_std_7d"], {"partition_format": "%Y-%m-%dT%H"}
    )
    item = latest[0]
    assert item["pool"] == " p1 "  # the object is returned as it came
    assert item["predictions"] == {
        "predictedClass": "Stable/Up",
        "predictedProbability": 80.0,
        "binnedConfidence": 3,
    }
    assert item["features"] == {"apy": 5.0, "apy_std_7d": None}
    # A pool that was not scored has null predictions and no features.
    assert latest[1]["predictions"] == dict.fromkeys(item["predictions"])
    assert latest[1]["features"] is None
    assert hourly == {"2025-11-01T00": latest}


def test_only_the_last_daily_aggregation_can_be_served():
    with pytest.raises(ValueError, match="daily_aggregation 'last' only, got 'median'"):
        advance_feature_state(pd.DataFrame(), pd.DataFrame(), pd.Timestamp.now("UTC"), {}, "median")
