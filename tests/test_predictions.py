"""The predictions contract and the served-population rule, shared by the hourly run and the API."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yield_runway.contracts import CLASS_NAMES, DOWN, STABLE_UP
from yield_runway.predictions import (
    FeatureMismatchError,
    contract_records,
    prediction_columns,
    score_pools,
)


def test_contract_fields_from_probabilities():
    columns = prediction_columns(np.array([0.9, 0.2, np.nan, 0.55]))
    records = contract_records(columns)
    assert records[2] == dict.fromkeys(
        ["predictedClass", "predictedProbability", "binnedConfidence"]
    )
    assert [r["predictedClass"] for r in records] == [
        CLASS_NAMES[STABLE_UP], CLASS_NAMES[DOWN], None, CLASS_NAMES[STABLE_UP],
    ]  # fmt: skip
    assert [r["predictedProbability"] for r in records] == pytest.approx([90.0, 80.0, None, 55.0])
    # Terciles of the probability among the scored rows: 90 top, 80 middle, 55 bottom.
    assert [r["binnedConfidence"] for r in records] == [3, 2, None, 1]


class _Model:
    """A served model's interface: its columns, a thread setting, P(Stable/Up) from column x."""

    features = ["x"]

    def use_threads(self, n_jobs):
        return self

    def predict_proba(self, X):
        p = np.asarray(X["x"], dtype=float)
        return np.column_stack([1 - p, p])


def test_only_the_served_population_is_scored():
    frame = pd.DataFrame(
        {
            "x": [0.8, 0.7, 0.6, 0.4],
            "snapshot_apy": [5.0, 0.0, 3.0, 2.0],  # apy 0: not served
            "n_samples": [10, 10, 3, 10],  # 3 < 7 samples: not served
            "stale_state": [False, False, False, True],  # a stale state: not served
        }
    )
    scored = score_pools(frame, _Model(), ["x"], {"min_samples": 7}, {"model_n_jobs": 1})
    assert scored["served"].tolist() == [True, False, False, False]
    assert scored["p_stable_up"].iloc[0] == 0.8 and scored["p_stable_up"].iloc[1:].isna().all()
    assert scored["predictedClass"].isna().tolist() == [False, True, True, True]


def test_a_model_needing_features_the_list_lacks_is_refused():
    with pytest.raises(FeatureMismatchError, match="not in feature_list: x"):
        score_pools(pd.DataFrame({"x": [0.5]}), _Model(), ["y"], {"min_samples": 1}, {})
