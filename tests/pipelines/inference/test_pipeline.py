"""`kedro run --pipeline=inference` after training: all pools scored, contract nulls, idempotent."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from yield_runway.features.state import day_of


def _run(root, at: str) -> dict:
    bootstrap_project(root)
    params = {"inference_run_timestamp": at}
    with KedroSession.create(project_path=root, runtime_params=params) as session:
        return session.run(pipeline_names=["inference"])["inference_summary"].load()


@pytest.fixture
def project(trained_small_project, tmp_path, monkeypatch):
    root = tmp_path / "project"
    shutil.copytree(trained_small_project, root)
    monkeypatch.chdir(root)
    snapshot = json.loads((root / "data/01_raw/pools_snapshot.json").read_text())
    snapshot[0]["apy"] = 0.0  # apy <= 0: null
    snapshot[1]["apy"] = None  # apy null: null
    snapshot[2]["tvlUsd"] = None  # not an observation today, still scored from history
    snapshot += [
        {"pool": "brand-new", "chain": "Base", "project": "new-dex", "apy": 5.0, "tvlUsd": 1e6},
        "not an object",
        {"chain": "Base", "apy": 1.0},
        {"pool": "bad-number", "apy": "12%", "tvlUsd": 1.0},
    ]
    (root / "data/01_raw/pools_snapshot.json").write_text(json.dumps(snapshot))
    last_day = pd.read_parquet(root / "data/03_primary/pools_daily.parquet")["date"].max()
    return root, snapshot, last_day


def test_inference_scores_every_pool_with_contract_nulls(project):
    root, snapshot, last_day = project
    at = (last_day + pd.Timedelta(days=1, hours=3, minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    summary = _run(root, at)
    key = pd.Timestamp(at).strftime("%Y-%m-%dT%H")
    table = pd.read_parquet(root / f"data/07_model_output/hourly_predictions/{key}.parquet")
    valid = [o for o in snapshot if isinstance(o, dict) and isinstance(o.get("pool"), str)]
    valid = [o for o in valid if o["pool"] != "bad-number"]
    assert list(table["pool"]) == [o["pool"] for o in valid]
    assert summary["skipped"] == {"not_an_object": 1, "missing_pool": 1, "non_numeric_value": 1}
    apy = pd.Series([o.get("apy") for o in valid], dtype=float)
    expected_null = ~(apy.gt(0) & table["n_samples"].ge(7)).to_numpy()
    assert (table["predictedClass"].isna().to_numpy() == expected_null).all()
    assert table.loc[expected_null, ["p_stable_up", "binnedConfidence"]].isna().all().all()
    assert not table.loc[~expected_null, ["p_stable_up", "binnedConfidence"]].isna().any().any()
    assert expected_null[:2].all() and not expected_null[2] and expected_null[-1]  # brand-new
    served = table.loc[~expected_null]
    assert served["predictedProbability"].between(50, 100).all()
    assert set(served["binnedConfidence"]) == {1, 2, 3}
    assert (served["date"] == day_of(at)).all()
    assert summary["pools_scored"] == len(served)
    assert summary["pools_nulled"] == int(expected_null.sum())

    enriched = json.loads((root / "data/07_model_output/dataEnriched_latest.json").read_text())
    assert [o["pool"] for o in enriched] == [
        o["pool"] for o in snapshot if isinstance(o, dict) and "pool" in o
    ]
    assert enriched[0]["predictions"] == dict.fromkeys(
        ["predictedClass", "predictedProbability", "binnedConfidence"]
    )
    assert enriched[3]["predictions"]["binnedConfidence"] in (1, 2, 3)
    # The same objects, with the features the model saw, are kept per run hour.
    hour = f"{pd.Timestamp(at):%Y-%m-%dT%H}"
    hourly = root / f"data/07_model_output/dataEnriched_hourly/{hour}.json"
    assert json.loads(hourly.read_text()) == enriched
    by_pool = table.set_index("pool")
    scored = next(o for o in enriched if o["predictions"]["predictedClass"] is not None)
    assert scored["features"]["apyMeanExpanding"] == pytest.approx(
        by_pool.loc[scored["pool"].strip(), "apyMeanExpanding"], rel=1e-12
    )


def test_a_second_run_in_the_same_hour_changes_no_state(project):
    root, snapshot, last_day = project
    first = (last_day + pd.Timedelta(days=1, hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _run(root, first)
    state_path = root / "data/04_feature/feature_state.parquet"
    after_first = pd.read_parquet(state_path)
    _run(root, first)
    pd.testing.assert_frame_equal(after_first, pd.read_parquet(state_path))
    # The next day commits the pending day once.
    _run(root, (last_day + pd.Timedelta(days=2, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    after_next = pd.read_parquet(state_path).set_index("pool")
    before = after_first.set_index("pool")
    pool = snapshot[5]["pool"]  # observed in both runs
    assert after_next.loc[pool, "count"] == before.loc[pool, "count"] + 1


def test_an_older_run_is_refused_and_changes_nothing(project):
    root, _, last_day = project
    later = (last_day + pd.Timedelta(days=1, hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    earlier = (last_day + pd.Timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _run(root, later)
    latest = root / "data/07_model_output/dataEnriched_latest.json"
    state_path = root / "data/04_feature/feature_state.parquet"
    before = latest.read_bytes(), state_path.read_bytes()
    # A late duplicate event, or a backfill: its nulls must not replace the later predictions.
    with pytest.raises(Exception, match="refusing to overwrite newer predictions"):
        _run(root, earlier)
    assert (latest.read_bytes(), state_path.read_bytes()) == before
    hourly = root / "data/07_model_output/hourly_predictions"
    assert not (hourly / f"{pd.Timestamp(earlier):%Y-%m-%dT%H}.parquet").exists()


def test_a_request_of_three_pools_is_scored_against_the_hourly_runs_market(project):
    """POST /predictions/pools: the stored market of the latest run, not the request's pools."""
    from tests.conftest import load_parameters
    from yield_runway.features import market
    from yield_runway.serving.artefacts import ArtefactStore
    from yield_runway.serving.pools import predict_pools

    root, snapshot, last_day = project
    at = last_day + pd.Timedelta(days=1, hours=4)
    _run(root, at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    stored = json.loads((root / "data/04_feature/market_context.json").read_text())
    table = pd.read_parquet(
        root / f"data/07_model_output/hourly_predictions/{at:%Y-%m-%dT%H}.parquet"
    )
    served = table.loc[table["served"]]
    # The market is every snapshot pool of the training universe observed today, not only the
    # served ones ("brand-new" was never in training's history).
    universe = table["pool"].ne("brand-new")
    assert len(stored["apy"]) == int(table["apy"].notna()[universe].sum()) > 3
    # pool-000 has no APY today (scored from its history), so is not in today's market.
    assert set(served["pool"]) - {row["pool"] for row in stored["apy"]} == {"pool-000"}
    assert "brand-new" not in {row["pool"] for row in stored["apy"]}
    three = served.iloc[[0, len(served) // 2, -1]]
    objects = [o for o in snapshot if isinstance(o, dict) and o.get("pool") in set(three["pool"])]
    params = load_parameters()
    store = ArtefactStore(str(root / "data"), ttl_seconds=0)
    answer = predict_pools(objects, store, now=pd.Timestamp(at, tz="UTC"))
    probability = {d["pool"]: d["predictions"]["predictedProbability"] for d in answer["data"]}
    expected = three.set_index("pool")["predictedProbability"]
    assert probability == pytest.approx(expected.to_dict(), abs=1e-9)
    # The check can fail: scored against themselves, the three pools would see another market.
    own = market.add_features(three, params["feature_engineering"]["market_context"])
    assert not np.allclose(own["mkt_apy_pct_rank"], three["mkt_apy_pct_rank"])


def test_an_object_with_invalid_text_is_skipped_and_counted_not_the_run(project):
    root, snapshot, last_day = project
    bad = [{**snapshot[5], "pool": "p\ud800"}, {**snapshot[6], "chain": "Eth\udc00", "pool": "z"}]
    (root / "data/01_raw/pools_snapshot.json").write_text(json.dumps(snapshot + bad))
    at = (last_day + pd.Timedelta(days=1, hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    summary = _run(root, at)
    assert summary["skipped"]["invalid_text"] == 2
    table = pd.read_parquet(
        root / f"data/07_model_output/hourly_predictions/{pd.Timestamp(at):%Y-%m-%dT%H}.parquet"
    )
    assert summary["pools_scored"] > 0 and "z" not in set(table["pool"])
    enriched = json.loads((root / "data/07_model_output/dataEnriched_latest.json").read_text())
    # The objects themselves pass through, with no predictions: nothing of them is lost.
    assert enriched[-1]["pool"] == "z" and enriched[-1]["predictions"]["predictedClass"] is None


def test_a_snapshot_with_no_usable_object_fails_and_changes_nothing(project):
    root, _, last_day = project
    at = (last_day + pd.Timedelta(days=1, hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _run(root, at)
    latest = root / "data/07_model_output/dataEnriched_latest.json"
    state = root / "data/04_feature/feature_state.parquet"
    before = latest.read_bytes(), state.read_bytes()
    (root / "data/01_raw/pools_snapshot.json").write_text(json.dumps([{"apy": 1}, "x"]))
    later = (last_day + pd.Timedelta(days=1, hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(Exception, match="no usable pool object"):
        _run(root, later)
    assert (latest.read_bytes(), state.read_bytes()) == before


def test_an_object_nested_too_deep_is_skipped_and_left_out_of_the_enriched_copy(parameters):
    from yield_runway.pipelines.inference.nodes import enrich_snapshot, parse_pools_snapshot

    deep: list = []
    for _ in range(5000):
        deep = [deep]
    objects = [{"pool": "a", "apy": 1.0, "tvlUsd": 10.0}, {"pool": "deep", "chain": deep}]
    limits = {"apy_limit": 1e5}
    rows, report = parse_pools_snapshot(objects, parameters["data_engineering"], limits)
    assert report["skipped"] == {"too_deep": 1} and rows["pool"].tolist() == ["a"]
    scored = rows[["pool"]].assign(
        p_stable_up=0.7, predictedClass="Stable/Up", predictedProbability=70.0, binnedConfidence=2
    )
    at = pd.Timestamp("2025-11-01T00:00:00Z")
    latest, _ = enrich_snapshot(objects, scored, at, [], parameters["inference"])
    # What cannot be encoded again is not written back: the file stays writable.
    assert [o["pool"] for o in latest] == ["a"]
    json.dumps(latest)


def test_a_run_that_stalls_before_publishing_never_replaces_a_later_runs_copies(project):
    """A later run commits and publishes while an older one stalls after its commit."""
    from yield_runway.features.state import StaleRunError
    from yield_runway.features.state_dataset import FeatureStateDataset
    from yield_runway.pipelines.inference.nodes import publish_latest

    root, _, last_day = project
    older = last_day + pd.Timedelta(days=1, hours=1)
    _run(root, (older + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))  # the later run
    stored = FeatureStateDataset(filepath=str(root / "data/04_feature/feature_state.parquet"))
    context = {"apy": [{"date": "x", "pool": "p", "apy": 1.0}], "market": [], "project": []}
    with pytest.raises(StaleRunError, match="a later run committed while this one"):
        publish_latest([], context, context, "older", stored.load(), older.tz_localize("UTC"))
    # The run that did commit last publishes.
    later = (older + pd.Timedelta(hours=1)).tz_localize("UTC")
    assert publish_latest([{"a": 1}], context, context, "later", stored.load(), later)[0] == [
        {"a": 1}
    ]


def test_a_conf_whose_model_parameters_changed_since_training_is_refused(project):
    """The API computes features by the release's parameters: the hourly run must too."""
    root, _, last_day = project
    at = (last_day + pd.Timedelta(days=1, hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    state = root / "data/04_feature/feature_state.parquet"
    before = state.read_bytes()
    bootstrap_project(root)
    params = {"inference_run_timestamp": at, "served_population": {"min_samples": 2}}
    refused = pytest.raises(ValueError, match="served_population.min_samples differ from what")
    with KedroSession.create(project_path=root, runtime_params=params) as session, refused:
        session.run(pipeline_names=["inference"])
    assert state.read_bytes() == before
