"""Whole-or-nothing saves and the feature state's compare-and-swap, on disk and on S3."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pandas as pd
import pytest
import yaml
from kedro.io.core import AbstractDataset

from tests.conftest import PROJECT_ROOT
from yield_runway.datasets import atomic
from yield_runway.datasets.atomic import AtomicDataset
from yield_runway.features.state_dataset import FeatureStateDataset, StateConflictError


def test_a_save_killed_before_its_rename_leaves_the_old_file_and_the_next_save_cleans_up(
    tmp_path, monkeypatch
):
    target = tmp_path / "out" / "latest.json"
    dataset = AtomicDataset(filepath=str(target), dataset="json.JSONDataset")
    dataset.save({"run": 1})

    def killed(*args):  # the process dies between writing the temporary file and renaming it
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        dataset.save({"run": 2})
    assert json.loads(target.read_text()) == {"run": 1}
    monkeypatch.undo()
    # A SIGKILL runs no `finally`: an orphan like the one it would leave.
    orphan = atomic.temporary_path(str(target))
    Path(orphan).write_text('{"run": 2')
    dataset.save({"run": 3})
    assert json.loads(target.read_text()) == {"run": 3}
    # What is left beside the target is its lock file, never a temporary one.
    assert sorted(os.listdir(target.parent)) == [".latest.json.lock", "latest.json"]


def test_partitions_ignore_temporary_files(tmp_path):
    from kedro_datasets.partitions import PartitionedDataset

    folder = tmp_path / "hourly"
    parts = PartitionedDataset(
        path=str(folder),
        dataset={"type": "yield_runway.datasets.AtomicDataset", "dataset": "pandas.ParquetDataset"},
        filename_suffix=".parquet",
    )
    parts.save({"2025-11-01T00": pd.DataFrame({"a": [1]})})
    Path(atomic.temporary_path(str(folder / "2025-11-01T01.parquet"))).write_text("PAR")
    loaded = parts.load()
    assert list(loaded) == ["2025-11-01T00"] and loaded["2025-11-01T00"]()["a"].tolist() == [1]


def _state(n: int) -> pd.DataFrame:
    return pd.DataFrame({"pool": [f"p{i}" for i in range(n)], "count": range(n)})


def _check_compare_and_swap(filepath: str, **fs: dict) -> None:
    first = FeatureStateDataset(filepath=filepath, **fs)
    first.save(_state(1))  # a fresh state (no version) replaces anything
    run_a = first.load()
    run_b = FeatureStateDataset(filepath=filepath, **fs).load()
    assert run_a.attrs["version"] == run_b.attrs["version"] is not None
    # Run B commits first; run A, which read the same version, must not overwrite it.
    committed = _state(2)
    committed.attrs = dict(run_b.attrs)
    first.save(committed)
    with pytest.raises(StateConflictError, match="changed since this run read it"):
        updated = _state(3)
        updated.attrs = dict(run_a.attrs)
        first.save(updated)
    assert len(first.load()) == 2
    # Its retry reads the newer version and commits.
    retry = first.load()
    updated = _state(4)
    updated.attrs = dict(retry.attrs)
    first.save(updated)
    assert len(first.load()) == 4


def test_state_commit_is_conditional_on_disk(tmp_path):
    _check_compare_and_swap(str(tmp_path / "04_feature" / "feature_state.parquet"))
    assert not [p for p in os.listdir(tmp_path / "04_feature") if p.endswith(".tmp")]


def test_state_commit_is_conditional_on_s3(s3_server):
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket="runway")
    fs_args = {"client_kwargs": {"endpoint_url": s3_server}, "skip_instance_cache": True}
    _check_compare_and_swap("s3://runway/prod/04_feature/feature_state.parquet", fs_args=fs_args)


def test_the_raw_history_is_written_whole(tmp_path, monkeypatch):
    entry = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog.yml").read_text())
    config = {**entry["pools_history@pandas"], "filepath": str(tmp_path / "live" / "h.csv")}
    config["dataset"] = {**config["dataset"], "fs_args": {}}
    target = tmp_path / "live" / "h.csv"
    dataset = AbstractDataset.from_config("pools_history", config)
    dataset.save(pd.DataFrame({"pool": ["a", "b"], "apy": [1.0, 2.0]}))

    def killed(*args):  # ingestion killed while writing: the temporary file is all it wrote
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "replace_file", killed)
    with pytest.raises(KeyboardInterrupt):
        dataset.save(pd.DataFrame({"pool": ["c"], "apy": [3.0]}))
    monkeypatch.undo()
    assert pd.read_csv(target)["pool"].tolist() == ["a", "b"]  # whole, the old one
    dataset.save(pd.DataFrame({"pool": ["c"], "apy": [3.0]}))
    assert pd.read_csv(target)["pool"].tolist() == ["c"]
    names = sorted(p.name for p in target.parent.iterdir())
    assert names == [".h.csv.lock", "h.csv"]


def test_a_state_read_without_a_version_is_never_written_unconditionally(tmp_path):
    from kedro.io.core import DatasetError

    dataset = FeatureStateDataset(filepath=str(tmp_path / "feature_state.parquet"))
    state = _state(2)
    state.attrs["version"] = ""  # an object store that sent no ETag
    with pytest.raises(DatasetError, match="read without a version"):
        dataset.save(state)


def test_a_large_state_is_still_one_conditional_put(s3_server, monkeypatch):
    # s3fs uploads in parts from 2 x chunksize (100 MB by default), and a multipart upload
    # drops If-Match: the save sizes its chunk so that any state goes in one conditional PUT.
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket="big")
    fs_args = {"client_kwargs": {"endpoint_url": s3_server}, "skip_instance_cache": True}
    dataset = FeatureStateDataset(filepath="s3://big/feature_state.parquet", fs_args=fs_args)
    dataset.save(_state(3))
    calls = []
    pipe = dataset._fs.pipe_file
    monkeypatch.setattr(
        dataset._fs,
        "pipe_file",
        lambda path, data, **kw: (calls.append((len(data), kw)), pipe(path, data, **kw)),
    )
    state = dataset.load()
    dataset.save(state)
    ((size, options),) = calls
    assert options["IfMatch"] == state.attrs["version"]
    assert size < 2 * options["chunksize"] <= 2 * max(size, 5 * 2**20)


def test_a_retried_put_that_finds_its_own_write_is_no_conflict(s3_server, monkeypatch):
    # botocore retries a PUT whose response was lost; the retry's If-Match then fails against
    # the object the first try stored. That object is this run's payload: the save succeeded.
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket="retry")
    fs_args = {"client_kwargs": {"endpoint_url": s3_server}, "skip_instance_cache": True}
    dataset = FeatureStateDataset(filepath="s3://retry/feature_state.parquet", fs_args=fs_args)
    dataset.save(_state(2))
    state = dataset.load()
    pipe = dataset._fs.pipe_file

    def lost_response(path, data, **kw):
        pipe(path, data, **kw)  # the first try lands...
        pipe(path, data, **kw)  # ...and the retry finds the ETag changed: 412

    monkeypatch.setattr(dataset._fs, "pipe_file", lost_response)
    changed = _state(3)
    changed.attrs = state.attrs
    dataset.save(changed)
    monkeypatch.undo()
    assert len(dataset.load()) == len(changed)
    # A real conflict (another payload stored) is still one.
    stale = _state(4)
    stale.attrs = state.attrs
    with pytest.raises(StateConflictError):
        dataset.save(stale)


@pytest.mark.parametrize("code", ["PreconditionFailed", "ConditionalRequestConflict", "409"])
def test_conditional_write_refusals_are_conflicts(code):
    from botocore.exceptions import ClientError

    from yield_runway.features.state_dataset import _precondition_failed

    error = OSError("wrapped")
    error.__cause__ = ClientError({"Error": {"Code": code}}, "PutObject")
    assert _precondition_failed(error)
    other = OSError("wrapped")
    other.__cause__ = ClientError({"Error": {"Code": "AccessDenied"}}, "PutObject")
    assert not _precondition_failed(other)
