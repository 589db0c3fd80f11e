"""Model releases: verified at load, never unpickled, picked by manifest, bad ones never served."""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil

import fsspec
import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.serving.releases import manifest, republish
from yield_runway.datasets.release import ModelReleaseDataset
from yield_runway.serving import artefacts as artefacts_module
from yield_runway.serving.artefacts import ArtefactError, ArtefactStore
from yield_runway.serving.release import ReleaseError, read_release, sha256

NEWER = "2999-01-01T00.00.00.000Z"


class _Planted:
    """A pickle that, once unpickled, leaves a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


@pytest.fixture
def data(trained_small_project, tmp_path):
    target = tmp_path / "data"
    shutil.copytree(trained_small_project / "data" / "06_models", target / "06_models")
    shutil.copytree(trained_small_project / "data" / "04_feature", target / "04_feature")
    return target


@pytest.fixture
def root(data):
    return data / "06_models" / "release"


def _rows(legacy_model) -> pd.DataFrame:
    features = legacy_model.features
    return pd.DataFrame(
        [[4.8, 3.9e5, 7.3, 7.4, 2, 1], [3.0, 1.2e7, 3.1, 0.4, 0, 0]], columns=features
    )


def _truncate(name: str):
    def corrupt(files):
        files[name] = files[name][: len(files[name]) // 2]

    return corrupt


def test_training_writes_a_manifest_with_the_sha256_of_every_file(root):
    current = manifest(root)
    folder = root / current["version"]
    # (Hidden names are the writers' lock files.)
    stored = sorted(
        p.name for p in folder.iterdir() if p.name != "manifest.json" and p.name[0] != "."
    )
    assert stored == sorted(current["files"])
    for name, entry in current["files"].items():
        payload = (folder / name).read_bytes()
        assert entry == {"sha256": sha256(payload), "bytes": len(payload)}
    assert (folder / "manifest.json").read_bytes() == (root / "manifest.json").read_bytes()
    for key in ("champion_model", "legacy_model"):
        spec = current["models"][key]
        assert spec["parity_max_abs_diff"] <= current["parity"]["tolerance"] == 1e-5
        assert spec["file"] == f"{key}.onnx"
    # Nothing a reader executes: no pickle in the release.
    assert not [p for p in folder.iterdir() if p.suffix in (".pkl", ".joblib", ".pickle")]


def test_a_release_is_picked_by_its_manifest_never_by_folder_name(root, tmp_path):
    fs = fsspec.filesystem("file")
    version = manifest(root)["version"]
    marker = tmp_path / "pickle-ran"
    for planted in ("old", "zzzz", NEWER):  # each sorts after a timestamp
        (root / planted).mkdir()
        for name in ("champion_model.onnx", "champion_model.joblib", "legacy_model.joblib"):
            (root / planted / name).write_bytes(pickle.dumps(_Planted(str(marker))))
    # Where the pickled models of earlier releases were loaded from, and training still saves them.
    for model in ("champion_model", "legacy_model"):
        planted = root.parent / f"{model}.joblib" / NEWER
        planted.mkdir(parents=True)
        (planted / f"{model}.joblib").write_bytes(pickle.dumps(_Planted(str(marker))))
    release = read_release(fs, str(root))
    assert release.version == version
    assert ArtefactStore(str(root.parents[1]), ttl_seconds=0).get().version == version
    assert not marker.exists()


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (_truncate("champion_model.onnx"), "champion_model.onnx is"),
        (_truncate("observation_limits.json"), "observation_limits.json is"),
        (lambda files: files.pop("legacy_model.onnx"), "Missing"),
    ],
)
def test_an_altered_or_missing_file_is_refused_naming_it(root, corrupt, message):
    republish(root, NEWER, corrupt=corrupt)
    with pytest.raises(ReleaseError, match=message) as error:
        read_release(fsspec.filesystem("file"), str(root))
    assert NEWER in str(error.value)


def test_a_swapped_model_file_is_refused(root):
    # The finding: a champion swapped for a model on fewer features was served silently.
    def swap(files):
        files["champion_model.onnx"] = files["legacy_model.onnx"]

    republish(root, NEWER, corrupt=swap)
    with pytest.raises(ReleaseError, match="champion_model.onnx is .* truncated or replaced"):
        read_release(fsspec.filesystem("file"), str(root))


@pytest.mark.parametrize(
    "text",
    [b"", b"{not json", b'{"format": 1, "version": "../../etc", "files": {}, "models": {}}', b"[]"],
)
def test_a_bad_manifest_is_refused(root, text):
    (root / "manifest.json").write_bytes(text)
    with pytest.raises(ReleaseError, match="manifest"):
        read_release(fsspec.filesystem("file"), str(root))


def test_a_killed_save_leaves_the_previous_release_in_service(root, monkeypatch):
    dataset = ModelReleaseDataset(path=str(root))
    before = dataset.load()
    current = manifest(root)
    files = {n: (root / current["version"] / n).read_bytes() for n in current["files"]}
    written = []

    def killed(self, path, payload):
        if path.endswith("manifest.json"):
            raise KeyboardInterrupt("killed before the manifest")
        written.append(path)
        original(self, path, payload)

    original = ModelReleaseDataset._write
    monkeypatch.setattr(ModelReleaseDataset, "_write", killed)
    with pytest.raises(KeyboardInterrupt):
        dataset.save({"files": files, "models": current["models"]})
    assert written  # the new version's files were written...
    after = ModelReleaseDataset(path=str(root)).load()  # ...and never put in service
    assert after.version == before.version
    rows = _rows(after.models["legacy_model"])
    np.testing.assert_array_equal(
        after.models["legacy_model"].predict_proba(rows),
        before.models["legacy_model"].predict_proba(rows),
    )


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(artefacts_module.time, "monotonic", clock)
    return clock


@pytest.fixture
def loads(monkeypatch):
    """How many times the store reads a whole release."""
    count = {"n": 0}
    original = artefacts_module.read_release

    def counted(*args, **kwargs):
        count["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(artefacts_module, "read_release", counted)
    return count


def test_a_bad_new_version_never_replaces_the_loaded_one(data, root, clock, loads, caplog):
    store = ArtefactStore(str(data), ttl_seconds=0, backoff_seconds=30, max_backoff_seconds=120)
    good = store.get()
    rows = _rows(good.legacy_model)
    expected = good.legacy_model.predict_proba(rows)
    republish(root, NEWER, corrupt=_truncate("champion_model.onnx"))
    with caplog.at_level(logging.ERROR, logger=artefacts_module.__name__):
        for _ in range(5):  # within the back-off: one try, then the good version
            served = store.get()
            assert served.version == good.version
            np.testing.assert_array_equal(served.legacy_model.predict_proba(rows), expected)
    assert loads["n"] == 2
    assert caplog.text.count("not loaded") == 1 and "champion_model.onnx" in caplog.text
    clock.now += 31  # the back-off doubles: tried again once, then not for 60 s
    store.get(), store.get()
    assert loads["n"] == 3
    clock.now += 59
    store.get()
    assert loads["n"] == 3
    # A good upload is taken at once.
    republish(root, "3000-01-01T00.00.00.000Z", source=good.version)
    assert store.get().version == "3000-01-01T00.00.00.000Z"
    assert loads["n"] == 4


def test_with_no_good_version_requests_get_the_error_without_retrying(data, root, clock, loads):
    good = manifest(root)["version"]
    republish(root, NEWER, corrupt=_truncate("legacy_model.onnx"))
    store = ArtefactStore(str(data), ttl_seconds=0, backoff_seconds=30)
    for _ in range(3):
        with pytest.raises(ArtefactError, match=f"{NEWER}/legacy_model.onnx is"):
            store.get()
    assert loads["n"] == 1
    clock.now += 30
    republish(root, "3000-01-01T00.00.00.000Z", source=good)
    assert store.get().version == "3000-01-01T00.00.00.000Z"


def test_the_hourly_run_refuses_an_altered_release_and_writes_nothing(
    trained_small_project, tmp_path
):
    project = tmp_path / "project"
    shutil.copytree(trained_small_project, project)
    republish(project / "data/06_models/release", NEWER, corrupt=_truncate("champion_model.onnx"))
    outputs = project / "data/07_model_output"
    before = sorted(p.relative_to(outputs) for p in outputs.rglob("*")) if outputs.exists() else []
    state = (project / "data/04_feature/feature_state.parquet").read_bytes()
    bootstrap_project(project)
    previous = os.getcwd()
    os.chdir(project)
    try:
        with (
            KedroSession.create(project_path=project) as session,
            pytest.raises(Exception) as error,
        ):
            session.run(pipeline_names=["inference"])
    finally:
        os.chdir(previous)
    assert "champion_model.onnx is" in str(error.value) and "truncated or replaced" in str(
        error.value
    )
    after = sorted(p.relative_to(outputs) for p in outputs.rglob("*")) if outputs.exists() else []
    assert after == before
    assert (project / "data/04_feature/feature_state.parquet").read_bytes() == state


def test_release_json_round_trips_the_tables(root):
    release = read_release(fsspec.filesystem("file"), str(root))
    folder = root / release.version
    assert release.feature_list == json.loads((folder / "feature_list.json").read_text())
    assert release.observation_limits["apy_limit"] > 0
    assert set(release.market_universe) and set(release.categorical_mapping)


def test_a_failing_read_keeps_the_loaded_release(data, root, clock, loads, monkeypatch):
    # S3 throttling or a denied read of the manifest must not take the API down.
    store = ArtefactStore(str(data), ttl_seconds=0, backoff_seconds=30)
    good = store.get()
    original = store.fs.cat_file

    def throttled(path, *args, **kwargs):
        if path.endswith("manifest.json"):
            raise OSError("SlowDown: please reduce your request rate")
        return original(path, *args, **kwargs)

    monkeypatch.setattr(store.fs, "cat_file", throttled)
    for _ in range(3):
        assert store.get() is good
    monkeypatch.setattr(store.fs, "cat_file", original)
    clock.now += 31
    assert store.get() is good and loads["n"] == 1


def test_each_503_is_a_fresh_error_and_a_new_bad_version_backs_off_afresh(data, root, clock):
    republish(root, NEWER, corrupt=_truncate("legacy_model.onnx"))
    store = ArtefactStore(str(data), ttl_seconds=0, backoff_seconds=30)
    errors = []
    for _ in range(3):
        with pytest.raises(ArtefactError) as error:
            store.get()
        errors.append(error.value)
    # A stored error re-raised would chain every request's frames onto one traceback.
    assert errors[0] is not errors[1] is not errors[2]
    assert store._failed[3] == 30
    clock.now += 30
    with pytest.raises(ArtefactError):
        store.get()
    assert store._failed[3] == 60  # the same version failing again: the wait doubles
    republish(root, "3000-01-01T00.00.00.000Z", corrupt=_truncate("legacy_model.onnx"))
    clock.now += 60
    with pytest.raises(ArtefactError):
        store.get()
    assert store._failed[3] == 30  # a new version starts afresh


@pytest.mark.parametrize(
    "text", [b"{trunc", b'{"history": null}', b'{"history": {"rows_raw": "x"}}']
)
def test_an_unreadable_history_never_blocks_retraining(tmp_path, text, caplog):
    from yield_runway.datasets.release import TrainedHistoryDataset

    (tmp_path / "manifest.json").write_bytes(text)
    with caplog.at_level(logging.WARNING):
        assert TrainedHistoryDataset(path=str(tmp_path)).load() == {}
    assert "the history is not compared" in caplog.text
    assert TrainedHistoryDataset(path=str(tmp_path / "none")).load() == {}


def test_a_state_holding_a_pickle_is_refused_unread(data, tmp_path):
    """The hourly run's role writes 04_feature/: the API loads the state with allow_pickle off."""
    marker = tmp_path / "pickle-ran"
    state_file = data / artefacts_module.STATE_PATH
    with np.load(state_file, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    planted = np.array([_Planted(str(marker))], dtype=object)
    np.savez(state_file, allow_pickle=True, **{**arrays, "pool": planted})
    store = ArtefactStore(str(data), ttl_seconds=0)
    with pytest.raises(ArtefactError, match="feature_state.npz is not a feature state"):
        store.feature_state()
    assert not marker.exists()


@pytest.mark.parametrize("failing", ["exists", "info", "open"])
def test_a_denied_or_throttled_state_read_is_a_503_naming_the_file(data, failing):
    store = ArtefactStore(str(data), ttl_seconds=0)
    store.get()

    def refuse(*args, **kwargs):
        raise PermissionError("AccessDenied: not for you")

    setattr(store.fs, failing, refuse)
    with pytest.raises(ArtefactError, match="Cannot read .*feature_state.npz: AccessDenied"):
        store.feature_state()


def test_a_release_without_serving_parameters_still_serves_the_legacy_route(data, root):
    """A release trained before this version: the pools route refuses it, nothing else does."""
    from yield_runway.serving.pools import predict_pools

    republish(root, NEWER, lambda files, models: files.pop("serving_parameters.json"))
    store = ArtefactStore(str(data), ttl_seconds=0)
    legacy = store.get().legacy_model
    assert legacy.predict_proba(_rows(legacy).to_numpy()).shape == (2, 2)
    with pytest.raises(ArtefactError, match="no serving_parameters.json.*retrain"):
        predict_pools([{"pool": "p", "apy": 1.0, "tvlUsd": 1.0}], store)
