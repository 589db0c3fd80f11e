"""Tests of the monitoring nodes on small hand-built frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.conftest import load_parameters
from yield_runway.pipelines.monitoring.nodes import compute_feature_drift


def test_excluded_features_are_not_compared():
    params = load_parameters()["monitoring"]["drift"]
    rng = np.random.default_rng(0)
    ages = np.arange(200)
    apy = rng.lognormal(1.5, 0.5, 200)
    reference = pd.DataFrame(
        {"pool": [f"p{i}" for i in range(200)], "date": "2025-10-31", "apy": apy}
    ).assign(pool_age_days=ages)
    current = reference.drop(columns="date").assign(
        pool_age_days=ages + 60,  # two months on: every age moved, by construction
        run_timestamp=pd.Timestamp("2025-12-30T00:00:00Z"),
        served=True,
    )
    features = ["apy", "pool_age_days"]
    report, summary = compute_feature_drift(reference.to_dict("records"), current, features, params)
    assert [entry["feature"] for entry in report] == ["apy"]
    assert summary["excluded_features"] == ["pool_age_days"] and not summary["drift_flagged"]
    # Compared, the same ages would be flagged.
    _, flagged = compute_feature_drift(
        reference.to_dict("records"), current, features, {**params, "excluded_features": []}
    )
    assert flagged["drifted_features"] == ["pool_age_days"]
