"""SIGKILL the hourly run at chosen points: the rerun gives the uninterrupted outputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import PROJECT_ROOT

OUTPUTS = [
    "07_model_output/hourly_predictions/{hour}.parquet",
    "07_model_output/dataEnriched_hourly/{hour}.json",
    "07_model_output/dataEnriched_latest.json",
    "04_feature/market_context.json",
    "04_feature/feature_state.parquet",
]
SAVED = [
    "hourly_predictions",
    "dataEnriched_hourly",
    "feature_state_updated",
    "dataEnriched_latest",
    "market_context_latest",
]
# Around every save, and inside each of the five file replacements of a run.
POINTS = [f"{when}:{name}" for name in SAVED for when in ("before", "after")]
POINTS += [f"rename:{n}" for n in range(1, 6)]


def _run(root, pipeline: str, at: str | None = None) -> None:
    bootstrap_project(root)
    params = {"inference_run_timestamp": at} if at else None
    with KedroSession.create(project_path=root, runtime_params=params) as session:
        session.run(pipeline_names=[pipeline])


def _read(path):
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return json.loads(path.read_text())


def _same(left, right) -> None:
    if isinstance(left, pd.DataFrame):
        pd.testing.assert_frame_equal(left, right)
    else:
        assert left == right


@pytest.fixture(scope="module")
def runs(trained_small_project, tmp_path_factory):
    """The trained project, and the outputs of one uninterrupted run at `at`."""
    base = tmp_path_factory.mktemp("kills")
    reference = base / "reference"
    shutil.copytree(trained_small_project, reference)
    last_day = pd.read_parquet(reference / "data/03_primary/pools_daily.parquet")["date"].max()
    at = (last_day + pd.Timedelta(days=1, hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    hour = pd.Timestamp(at).strftime("%Y-%m-%dT%H")
    cwd = os.getcwd()
    try:
        os.chdir(reference)
        _run(reference, "inference", at)
    finally:
        os.chdir(cwd)
    expected = {name: _read(reference / "data" / name.format(hour=hour)) for name in OUTPUTS}
    return trained_small_project, base, at, hour, expected


@pytest.mark.parametrize("point", POINTS)
def test_a_killed_run_leaves_whole_files_and_its_rerun_gives_the_same_outputs(runs, point):
    trained, base, at, hour, expected = runs
    root = base / point.replace(":", "_")
    shutil.copytree(trained, root)
    before = {n: (root / "data" / n.format(hour=hour)) for n in OUTPUTS}
    old = {n: p.read_bytes() for n, p in before.items() if p.exists()}
    killed = subprocess.run(
        [sys.executable, "-m", "tests.pipelines.inference.kill_harness", str(root), at, point],
        cwd=PROJECT_ROOT,
        capture_output=True,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    # Every output is the previous one or this run's whole one, never a part.
    for name, path in before.items():
        if path.exists() and path.read_bytes() != old.get(name):
            _same(_read(path), expected[name])
    # The state moved only if every hourly output was already written.
    state = root / "data" / OUTPUTS[-1]
    if state.read_bytes() != old[OUTPUTS[-1]]:
        assert all(before[n].exists() for n in OUTPUTS[:2])
    cwd = os.getcwd()
    try:
        os.chdir(root)
        _run(root, "inference", at)  # the retry: never refused as stale
        for name in OUTPUTS:
            _same(_read(root / "data" / name.format(hour=hour)), expected[name])
        leftovers = [p for p in (root / "data").rglob("*.tmp")]
        assert not leftovers, leftovers
        _run(root, "monitoring")
    finally:
        os.chdir(cwd)


def _harness(root, at: str, point: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.pipelines.inference.kill_harness", str(root), at, point],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
    )


def test_runs_of_two_days_started_together_lose_no_update(runs):
    trained, base, at, _, _ = runs
    day2 = (pd.Timestamp(at) + pd.Timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # What the two runs give one after the other, and day 2 alone (day 1 refused as late).
    outcomes = {}
    for name, sequence in (("both", [at, day2]), ("day2", [day2])):
        root = base / f"sequential_{name}"
        shutil.copytree(trained, root)
        cwd = os.getcwd()
        try:
            os.chdir(root)
            for stamp in sequence:
                _run(root, "inference", stamp)
        finally:
            os.chdir(cwd)
        outcomes[name] = pd.read_parquet(root / "data/04_feature/feature_state.parquet")
    conflicts = 0
    for attempt in range(3):
        root = base / f"together_{attempt}"
        shutil.copytree(trained, root)
        first, second = _harness(root, at, "retry:3"), _harness(root, day2, "retry:3")
        codes = (first.wait(timeout=300), second.wait(timeout=300))
        logs = first.stderr.read() + second.stderr.read()
        assert codes in ((0, 0), (3, 0)), (codes, logs[-1500:])
        conflicts += logs.count(b"changed since this run read it")
        final = pd.read_parquet(root / "data/04_feature/feature_state.parquet")
        # Day 1 refused as stale: at its start (day 2 alone), or after its commit when day 2
        # committed before it could publish (both days, day 2's copies kept).
        allowed = ["both"] if codes == (0, 0) else ["both", "day2"]
        assert any(final.equals(outcomes[name]) for name in allowed), codes
        # The latest copy is the newest run's, whichever committed last.
        hourly = (
            root / f"data/07_model_output/dataEnriched_hourly/{pd.Timestamp(day2):%Y-%m-%dT%H}.json"
        )
        assert _read(root / "data/07_model_output/dataEnriched_latest.json") == _read(hourly)
    # The runs did race: at least one commit found the state changed under it.
    assert conflicts > 0
