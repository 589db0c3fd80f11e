"""Both API routes answer with onnxruntime and NumPy only: no pandas, scikit-learn, scipy, pyarrow
or Kedro is imported (they would add seconds to a cold start and 400 MB to the package)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from tests.serving.events import api_event

HEAVY = ("pandas", "sklearn", "scipy", "kedro", "pyarrow", "matplotlib", "joblib", "onnx")
SCRIPT = """
import json, sys
from yield_runway.serving.lambda_handler import handler
result = handler(json.loads(sys.argv[1]), None)
print(json.dumps({"result": result, "loaded": [m for m in sys.argv[2:] if m in sys.modules]}))
"""
ROW = {"apy": 4.8, "tvlUsd": 3.9e5, "apyMeanExpanding": 7.3, "apyStdExpanding": 7.4,
       "chain_factorized": 2, "project_factorized": 1}  # fmt: skip


def _answer_fresh(project, tmp_path, folders: tuple[str, ...], event: dict) -> dict:
    """The handler's answer in a fresh process on a copy of `folders`, and what it imported."""
    data = tmp_path / "data"
    for folder in folders:
        shutil.copytree(project / "data" / folder, data / folder)
    env = {**os.environ, "YIELD_RUNWAY_DATA_URI": str(data), "KEDRO_DISABLE_TELEMETRY": "1"}
    env.pop("KEDRO_LOGGING_CONFIG", None)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(event), *HEAVY],
        capture_output=True, text=True, check=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_legacy_route_imports_no_heavy_library(trained_small_project, tmp_path):
    event = api_event("/predictions", [ROW])
    answer = _answer_fresh(trained_small_project, tmp_path, ("06_models",), event)
    assert answer["result"]["statusCode"] == 200, answer
    assert len(json.loads(answer["result"]["body"])["predictions"]) == 1
    assert answer["loaded"] == []


def test_the_pools_route_imports_no_heavy_library(trained_small_project, tmp_path):
    snapshot = json.loads((trained_small_project / "data/01_raw/pools_snapshot.json").read_text())
    event = api_event("/predictions/pools", snapshot[:5])
    answer = _answer_fresh(trained_small_project, tmp_path, ("06_models", "04_feature"), event)
    assert answer["result"]["statusCode"] == 200, answer
    data = json.loads(answer["result"]["body"])["data"]
    assert [d["pool"] for d in data] == [o["pool"] for o in snapshot[:5]]
    assert any(d["predictions"]["predictedClass"] is not None for d in data)
    assert answer["loaded"] == []
