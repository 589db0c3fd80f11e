"""kedro-viz serves every registered pipeline and node on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from kedro.framework.startup import bootstrap_project

from tests.conftest import PROJECT_ROOT
from yield_runway.pipeline_registry import register_pipelines

STARTUP_SECONDS = 180


def _free_port() -> int:
    """A free port below 49152: kedro-viz refuses the ephemeral range the OS hands out."""
    for port in random.Random().sample(range(30000, 49000), 200):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port for kedro-viz")


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def viz_api(tmp_path_factory) -> str:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("viz") / "kedro-viz.log"
    log = log_path.open("w")
    kedro = Path(sys.executable).with_name("kedro")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    process = subprocess.Popen(
        [str(kedro), "viz", "run", "--host", "127.0.0.1", "--port", str(port), "--no-browser"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        # kedro viz serves from a spawned child: a session of its own lets the test end both.
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                _get_json(f"{url}/api/main")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    message = f"kedro viz did not start: {log_path.read_text()[-2000:]}"
                    raise RuntimeError(message) from None
                time.sleep(1)
        yield url
    finally:
        _stop_session(process)
        log.close()


def _stop_session(process: subprocess.Popen) -> None:
    """Stop kedro viz and the server it spawned (its whole process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def test_api_main_lists_every_pipeline_and_node(viz_api):
    bootstrap_project(PROJECT_ROOT)
    registered = register_pipelines()
    main = _get_json(f"{viz_api}/api/main")
    assert {p["id"] for p in main["pipelines"]} == set(registered)
    # /api/main holds the default pipeline; every other one has its own endpoint.
    for name, pipeline in registered.items():
        shown = main if name == "__default__" else _get_json(f"{viz_api}/api/pipelines/{name}")
        served = {n["name"] for n in shown["nodes"] if n["type"] == "task"}
        assert served == {node.name for node in pipeline.nodes}, name
    # Datasets carry their data layer.
    layers = {n["name"]: n.get("layer") for n in main["nodes"] if n["type"] == "data"}
    assert layers["pools_history"] == "raw" and layers["pools_daily"] == "primary"
    assert layers["metrics"] == "reporting"
    # An acyclic layer order, or kedro-viz switches layer display off.
    assert main["layers"][0] == "raw" and main["layers"][-1] == "reporting"
    assert {"intermediate", "primary", "feature", "model_input", "models"} <= set(main["layers"])
