"""Feature drift statistics on constructed populations with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance

from yield_runway.monitoring.drift import (
    categorical_drift,
    drift_report,
    drift_summary,
    numeric_drift,
)

PARAMS = {
    "categorical_features": ["chain_factorized"],
    "threshold": 0.1,
    "thresholds": {},
    "max_out_of_range_share": 0.1,
}


def _population(n: int, seed: int, shift: float = 0.0, mix=(0.5, 0.3, 0.2)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(10.0 + shift * 2.0, 2.0, n),
            "y": rng.lognormal(1.0, 0.5, n),
            "chain_factorized": rng.choice([0, 1, 2], size=n, p=list(mix)),
        }
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _population(5000, seed=1)


def test_one_std_shift_is_flagged_and_a_fresh_sample_is_not(reference):
    features = ["x", "y", "chain_factorized"]
    fresh = drift_report(reference, _population(3000, seed=2), features, PARAMS)
    assert [e["drifted"] for e in fresh] == [False, False, False]
    assert all(e["value"] < 0.07 for e in fresh)

    shifted = drift_report(reference, _population(3000, seed=3, shift=1.0), features, PARAMS)
    by_feature = {e["feature"]: e for e in shifted}
    assert by_feature["x"]["drifted"]
    # A one-std shift of a normal moves the whole distribution by one std: W/std is ~1.
    assert by_feature["x"]["value"] == pytest.approx(1.0, abs=0.1)
    assert by_feature["x"]["statistic"] == "wasserstein_over_std"
    assert not by_feature["y"]["drifted"] and not by_feature["chain_factorized"]["drifted"]
    summary = drift_summary(shifted)
    assert summary["drifted_features"] == ["x"] and summary["drift_flagged"]
    assert summary["max_drift"]["feature"] == "x"


def test_categorical_drift_on_a_changed_mix(reference):
    changed = _population(3000, seed=4, mix=(0.2, 0.3, 0.5))
    entry = drift_report(reference, changed, ["chain_factorized"], PARAMS)[0]
    assert entry["statistic"] == "jensen_shannon" and entry["drifted"]
    # Base-2 Jensen-Shannon distance of the two mixes, computed by hand.
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5])
    m = (p + q) / 2
    js = np.sqrt(0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m)))
    assert entry["value"] == pytest.approx(js, abs=0.03)
    assert entry["n_reference"] == 5000 and entry["n_current"] == 3000


def test_unknown_code_is_its_own_share():
    reference = pd.Series([0] * 50 + [1] * 50)
    current = pd.Series([0] * 40 + [1] * 40 + [-1] * 15 + [None] * 5)
    entry = categorical_drift(reference, current)
    # Missing counts as unknown, like an unseen category; both are a share of their own.
    assert entry["unknown_share"] == pytest.approx(0.2)
    assert entry["reference_unknown_share"] == 0.0
    assert entry["n_current_missing"] == 5
    # p = (0.5, 0.5, 0), q = (0.4, 0.4, 0.2): the unknown share is inside the distance.
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.4, 0.4, 0.2])
    m = (p + q) / 2
    kl = lambda a, b: np.sum(a[a > 0] * np.log2(a[a > 0] / b[a > 0]))  # noqa: E731
    assert entry["value"] == pytest.approx(np.sqrt(0.5 * kl(p, m) + 0.5 * kl(q, m)))


def test_out_of_range_values_are_counted_and_excluded():
    rng = np.random.default_rng(5)
    reference = pd.Series(rng.uniform(0.0, 1.0, 1000))
    inside = rng.uniform(0.2, 1.0, 500)
    current = pd.Series(np.concatenate([inside, [100.0] * 5, [-50.0] * 2, [np.nan, np.inf]]))
    entry = numeric_drift(reference, current)
    assert (entry["n_above_range"], entry["n_below_range"], entry["n_out_of_range"]) == (5, 2, 7)
    assert entry["n_current"] == 507 and entry["n_current_missing"] == 2
    assert entry["out_of_range_share"] == pytest.approx(7 / 507)
    expected = wasserstein_distance(reference, inside) / reference.std(ddof=1)
    assert entry["value"] == pytest.approx(expected)


def test_out_of_range_share_above_its_limit_is_drift_and_thresholds_override():
    reference = pd.DataFrame({"x": np.linspace(0.0, 1.0, 101)})
    current = pd.DataFrame({"x": np.r_[np.linspace(0.0, 1.0, 80), np.full(20, 5.0)]})
    entry = drift_report(reference, current, ["x"], PARAMS)[0]
    assert entry["value"] < 0.1 and entry["out_of_range_share"] == pytest.approx(0.2)
    assert entry["drifted"]
    lenient = {**PARAMS, "max_out_of_range_share": None, "thresholds": {"x": 0.5}}
    entry = drift_report(reference, current, ["x"], lenient)[0]
    assert entry["threshold"] == 0.5 and not entry["drifted"]


def test_constant_reference_and_empty_current_do_not_divide_by_zero():
    entry = numeric_drift(pd.Series([1.0] * 10), pd.Series([1.0, 1.0, 3.0]))
    assert entry["value"] == 0.0 and entry["n_above_range"] == 1
    empty = numeric_drift(pd.Series([1.0, 2.0]), pd.Series([np.nan]))
    assert np.isnan(empty["value"]) and empty["n_current"] == 0
    report = [{"feature": "x", **empty, "threshold": 0.1, "drifted": False}]
    assert drift_summary(report)["not_measured"] == ["x"]


def _small_population(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shares = [0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05]
    return pd.DataFrame(
        {
            "x": rng.standard_t(2, n) + shift,  # heavy tails, like daily APY changes
            "chain_factorized": rng.choice(8, size=n, p=shares),
        }
    )


def test_the_noise_floor_keeps_a_few_hundred_fresh_pools_from_alarming():
    params = {**PARAMS, "noise": {"quantile": 0.99, "resamples": 200, "seed": 0}}
    reference = _small_population(300, seed=1)
    fresh = {
        e["feature"]: e
        for e in drift_report(
            reference, _small_population(200, 2), ["x", "chain_factorized"], params
        )
    }
    # By chance alone both distances pass the 0.1 threshold; neither passes its noise floor.
    assert fresh["x"]["value"] > 0.1 and fresh["chain_factorized"]["value"] > 0.1
    assert fresh["x"]["noise_floor"] > fresh["x"]["value"]
    assert not fresh["x"]["drifted"] and not fresh["chain_factorized"]["drifted"]
    # Without the floor the threshold alone raises a false alarm on the same pools.
    assert drift_report(reference, _small_population(200, 2), ["x"], PARAMS)[0]["drifted"]

    std = reference["x"].std()
    shifted = drift_report(reference, _small_population(200, 9, shift=std), ["x"], params)[0]
    assert shifted["drifted"] and shifted["value"] == pytest.approx(1.0, abs=0.15)
