"""The legacy route answers with onnxruntime and NumPy only: no pandas, scikit-learn, scipy or
Kedro is imported (they would add seconds to a cold start)."""

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


def test_the_legacy_route_imports_no_heavy_library(trained_small_project, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(trained_small_project / "data" / "06_models", data / "06_models")
    env = {**os.environ, "YIELD_RUNWAY_DATA_URI": str(data), "KEDRO_DISABLE_TELEMETRY": "1"}
    env.pop("KEDRO_LOGGING_CONFIG", None)
    event = json.dumps(api_event("/predictions", [ROW]))
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, event, *HEAVY],
        capture_output=True, text=True, check=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer["result"]["statusCode"] == 200, answer
    assert len(json.loads(answer["result"]["body"])["predictions"]) == 1
    assert answer["loaded"] == []
