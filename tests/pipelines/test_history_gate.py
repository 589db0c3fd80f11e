"""Training refuses a history that shrank against the one the release in service learned from."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project


def test_a_truncated_history_stops_training_and_keeps_the_release(
    trained_small_project, tmp_path, monkeypatch
):
    root = tmp_path / "project"
    shutil.copytree(trained_small_project, root)
    monkeypatch.chdir(root)
    history = root / "data/01_raw/pools_history.csv.gz"
    lines = gzip.decompress(history.read_bytes()).decode().splitlines(keepends=True)
    history.write_bytes(gzip.compress("".join(lines[: len(lines) // 2]).encode()))
    release = root / "data/06_models/release/manifest.json"
    before = release.read_bytes()
    assert json.loads(before)["history"]["rows_raw"] == len(lines) - 1
    written = {p: p.read_bytes() for p in (root / "data").rglob("*.json") if p.is_file()}
    bootstrap_project(root)
    with KedroSession.create(project_path=root) as session, pytest.raises(ValueError) as error:
        session.run(pipeline_names=["training"])
    assert "pools_history lost" in str(error.value) and "of the 8 pools" in str(error.value)
    assert release.read_bytes() == before
    # Nothing was written from the refused history: no report, no limits, no summary.
    assert {p: p.read_bytes() for p in written} == written
