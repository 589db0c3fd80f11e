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
        }
    )
    (item,) = enrich_snapshot([{"pool": " p1 ", "apy": 5.0}], scored)
    assert item["pool"] == " p1 "  # the object is returned as it came
    assert item["predictions"] == {
        "predictedClass": "Stable/Up",
        "predictedProbability": 80.0,
        "binnedConfidence": 3,
    }


def test_only_the_last_daily_aggregation_can_be_served():
    with pytest.raises(ValueError, match="daily_aggregation 'last' only, got 'median'"):
        advance_feature_state(pd.DataFrame(), pd.DataFrame(), pd.Timestamp.now("UTC"), {}, "median")
