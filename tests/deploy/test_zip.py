"""The API's Lambda zip, run: unpacked into an empty folder, it answers every deploy/events/*.json
through the real runtime client (`awslambdaric`) and a Runtime API on 127.0.0.1, under
`python3.12 -I -S` with only that folder on the path, against a local S3 server.

Builds the zip once per session with deploy/build_zip.sh (PyPI or pip's cache); skipped, saying
why, where Python 3.12 or the wheels are missing.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest

from tests.conftest import PROJECT_ROOT
from tests.serving.events import Context, upload_tree
from tests.serving.runtime_api import RuntimeAPI

EVENTS = PROJECT_ROOT / "deploy" / "events"
HANDLER = "yield_runway.serving.lambda_handler.handler"
BUCKET, PREFIX = "yield-runway-zip", "prod"
# Lambda: 50 MB zipped for a direct upload, 250 MB unzipped; the target is 120 MB.
MAX_ZIPPED, MAX_UNZIPPED = 50e6, 120e6
HEAVY = ("pandas", "sklearn", "scipy", "kedro", "pyarrow", "fsspec", "s3fs", "matplotlib")
PYENV_312 = "/root/.pyenv/versions/3.12.1/bin/python3.12"
# Run in the unpacked folder: -I ignores PYTHONPATH, so the folder goes on the path here, as
# Lambda puts LAMBDA_TASK_ROOT there; then the client starts as `python -m awslambdaric` does.
DRIVER = """
import importlib.util, json, runpy, sys
sys.path.insert(0, sys.argv.pop(1))
specs = {{m: importlib.util.find_spec(m) for m in {modules!r}}}
origins = {{m: s.origin if s else None for m, s in specs.items()}}
probe = {{"path": sys.path, "base": sys.base_prefix, "origins": origins}}
print("ZIP-PROBE " + json.dumps(probe), flush=True)
runpy.run_module("awslambdaric", run_name="__main__")
"""


def lambda_python() -> tuple[str | None, list[str]]:
    """A Python 3.12 to run the zip with (LAMBDA_PYTHON, python3.12, pyenv's) and what failed."""
    tried = []
    for candidate in (os.environ.get("LAMBDA_PYTHON"), shutil.which("python3.12"), PYENV_312):
        if not candidate:
            continue
        check = [candidate, "-I", "-c", "import sys; print(sys.version_info[:2] == (3, 12))"]
        try:
            done = subprocess.run(check, capture_output=True, text=True, timeout=60)
        except OSError:
            done = None
        if done is not None and done.stdout.strip() == "True":
            return candidate, tried
        tried.append(candidate)
    return None, tried


PYTHON, TRIED = lambda_python()
pytestmark = pytest.mark.skipif(
    PYTHON is None,
    reason=f"no working Python 3.12 (tried {TRIED or 'none'}): set LAMBDA_PYTHON to one",
)


def _built_wheel(tmp: Path) -> Path:
    """The project wheel of this tree's code, built from a copy (nothing written in the tree)."""
    source = tmp / "source"
    shutil.copytree(
        PROJECT_ROOT / "src" / "yield_runway",
        source / "src" / "yield_runway",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp), source]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.skip(
            f"cannot build the project wheel (no setuptools from PyPI?): {done.stderr[-500:]}"
        )
    return next(tmp.glob("yield_runway-*.whl"))


@pytest.fixture(scope="session")
def api_zip(tmp_path_factory) -> Path:
    """dist/api-lambda.zip as deploy/build_zip.sh builds it, from this tree's code."""
    tmp = tmp_path_factory.mktemp("api_zip")
    out = tmp / "api-lambda.zip"
    command = [str(PROJECT_ROOT / "deploy/build_zip.sh"), str(_built_wheel(tmp)), str(out)]
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    if done.returncode == 3:  # the script's "cannot install the wheels"
        pytest.skip(f"cannot download the python3.12 wheels: {done.stderr[-500:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stdout)
    return out


@pytest.fixture(scope="session")
def task_root(api_zip, tmp_path_factory) -> Path:
    """The zip unpacked into an empty folder, as Lambda unpacks it into /var/task."""
    root = tmp_path_factory.mktemp("var_task")
    assert not any(root.iterdir())
    with zipfile.ZipFile(api_zip) as archive:
        archive.extractall(root)
    return root


def _pins() -> dict[str, str]:
    """deploy/api-requirements.txt as name -> version."""
    lines = (PROJECT_ROOT / "deploy/api-requirements.txt").read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


def test_the_pins_are_the_versions_the_tests_run():
    pins = _pins()
    venv = {d.metadata["Name"].lower(): d.version for d in importlib.metadata.distributions()}
    # The runtime client and its dependencies are the only pins the project's env lacks.
    assert {n for n in pins if n not in venv} <= {
        "awslambdaric",
        "simplejson",
        "snapshot-restore-py",
    }
    assert {n: v for n, v in pins.items() if n in venv} == {n: venv[n] for n in pins if n in venv}


def test_the_zip_fits_lambda_and_carries_only_what_the_api_runs(api_zip):
    with zipfile.ZipFile(api_zip) as archive:
        files = [info for info in archive.infolist() if not info.is_dir()]
    unzipped = sum(info.file_size for info in files)
    zipped = os.path.getsize(api_zip)
    assert zipped <= MAX_ZIPPED, f"{zipped / 1e6:.1f} MB zipped"
    assert unzipped <= MAX_UNZIPPED, f"{unzipped / 1e6:.1f} MB unzipped"
    # Lambda reads the files as another user: each must be world-readable.
    assert all((info.external_attr >> 16) & 0o444 == 0o444 for info in files)
    names = {info.filename for info in files}
    tops = {name.split("/")[0] for name in names}
    assert {"yield_runway", "numpy", "onnxruntime", "botocore", "awslambdaric"} <= tops
    assert not tops & {"pandas", "sklearn", "scipy", "kedro", "pyarrow", "s3fs", "bin"}
    assert not [n for n in names if "libonnxruntime.so" in n]
    # Bytecode for Lambda's Python only (its /var/task is read-only: nothing compiles there).
    caches = [n for n in names if "__pycache__" in n]
    assert caches and all(n.endswith(".cpython-312.pyc") for n in caches)
    assert "yield_runway/serving/__pycache__/lambda_handler.cpython-312.pyc" in names
    models = {n.split("/")[2] for n in names if n.startswith("botocore/data/") and n.count("/") > 2}
    assert models == {"s3"}


def _answer(api: RuntimeAPI, client: subprocess.Popen, index: int, timeout: float = 120) -> Any:
    """The index-th answer, failing as soon as the client exits (not after the timeout)."""
    end = time.monotonic() + timeout
    while True:
        try:
            return api.result(index, timeout=1)
        except TimeoutError:
            if client.poll() is not None or time.monotonic() > end:
                raise


def _run_zip(root: Path, events: list[dict], s3_endpoint: str, tmp: Path) -> tuple[list, dict]:
    """Each event's (kind, answer) from the zip's runtime client, and its import probe."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
        "TMPDIR": str(tmp),
        "LAMBDA_TASK_ROOT": str(root),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "YIELD_RUNWAY_BUCKET": BUCKET,
        "YIELD_RUNWAY_PREFIX": PREFIX,
    }
    driver = DRIVER.format(modules=(*HEAVY, "yield_runway", "numpy", "onnxruntime", "botocore"))
    # -I: no PYTHON* variables, user site or script folder; -S: no site-packages; -B: Lambda's
    # /var/task is read-only, so no bytecode is written.
    command = [PYTHON, "-I", "-S", "-B", "-c", driver, str(root), HANDLER]
    log_path = tmp / "client.log"  # a file, not a pipe: a full pipe would block the client
    with RuntimeAPI(events) as api, log_path.open("w") as log_file:
        env["AWS_LAMBDA_RUNTIME_API"] = api.address
        client = subprocess.Popen(
            command, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            answers = [_answer(api, client, i) for i in range(len(events))]
        finally:
            client.kill()
            client.wait(timeout=60)
            print(log_path.read_text()[-5000:])  # the client's log, shown when a test fails
    log = log_path.read_text()
    probes = [line for line in log.splitlines() if line.startswith("ZIP-PROBE ")]
    assert probes, log[-3000:]
    return answers, json.loads(probes[0].removeprefix("ZIP-PROBE "))


def _event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def _rows(event: dict[str, Any]) -> list[dict[str, Any]]:
    body = event["body"]
    return json.loads(base64.b64decode(body) if event["isBase64Encoded"] else body)


@pytest.fixture
def published(s3_server, trained_small_project, monkeypatch):
    """A trained release on the local S3 server; this process's handler reads it too."""
    s3 = boto3.client("s3", endpoint_url=s3_server)
    s3.create_bucket(Bucket=BUCKET)
    upload_tree(s3, BUCKET, PREFIX, trained_small_project / "data")
    monkeypatch.setenv("YIELD_RUNWAY_BUCKET", BUCKET)
    monkeypatch.setenv("YIELD_RUNWAY_PREFIX", PREFIX)
    monkeypatch.delenv("YIELD_RUNWAY_DATA_URI", raising=False)
    from yield_runway.serving import lambda_handler

    monkeypatch.setattr(lambda_handler, "_store", None)
    return s3_server


def _here(event: dict[str, Any]) -> dict[str, Any]:
    """The body of this process's handler's answer (the project's environment) to an event."""
    from yield_runway.serving import lambda_handler

    body = json.loads(lambda_handler.handler(event, Context())["body"])
    body.pop("requestId", None)  # the invocation's own
    return body


def _legacy(event: dict[str, Any], kind: str, answer: dict[str, Any]) -> None:
    """One [p_down, p_stable] pair per row, each a distribution, as this process scores them."""
    assert kind == "response" and answer["statusCode"] == 200, answer
    predictions = json.loads(answer["body"])["predictions"]
    assert len(predictions) == len(_rows(event))
    assert all(len(p) == 2 and abs(sum(p) - 1) < 1e-9 for p in predictions)
    assert all(0 <= v <= 1 for p in predictions for v in p)
    # The same numbers as the project's environment gives, from the same S3 release.
    np.testing.assert_allclose(predictions, _here(event)["predictions"], rtol=0, atol=1e-9)


def _bad(event: dict[str, Any], kind: str, answer: dict[str, Any]) -> None:
    """A 400 naming the missing feature."""
    assert kind == "response" and answer["statusCode"] == 400, answer
    body = json.loads(answer["body"])
    assert "missing feature(s) apyStdExpanding" in body.pop("error")
    assert body["requestId"]


def _pools(event: dict[str, Any], kind: str, answer: dict[str, Any]) -> None:
    """The request's pools in order, each with the contract's predictions, as here."""
    assert kind == "response" and answer["statusCode"] == 200, answer
    body = json.loads(answer["body"])
    assert [item["pool"] for item in body["data"]] == [row["pool"] for row in _rows(event)]
    fields = {"predictedClass", "predictedProbability", "binnedConfidence"}
    assert all(set(item["predictions"]) == fields for item in body["data"])
    assert body == _here(event)


def _schedule(event: dict[str, Any], kind: str, answer: dict[str, Any]) -> None:
    """No Kedro in the zip: an invocation error naming the image as the scheduled function."""
    assert kind == "error" and answer["errorType"] == "RuntimeError", answer
    assert "container image" in answer["errorMessage"] and "hourly" in answer["errorMessage"]


# The expected answer to each deploy/events/*.json: a new event needs its check here.
CHECKS = {
    "api_request.json": _legacy,
    "api_request_base64.json": _legacy,
    "bad_request.json": _bad,
    "pools_request.json": _pools,
    "schedule.json": _schedule,
}


def test_the_zip_answers_every_event(task_root, published, tmp_path):
    names = sorted(p.name for p in EVENTS.glob("*.json"))
    assert names == sorted(CHECKS)
    events = [_event(name) for name in names]
    answers, probe = _run_zip(task_root, events, published, tmp_path)

    # Only the unpacked folder and the standard library are on the path, and everything the
    # API imports comes from the folder; nothing heavy can even be found.
    assert probe["path"][0] == str(task_root)
    assert all(p.startswith(probe["base"]) and "site-packages" not in p for p in probe["path"][1:])
    for module in ("yield_runway", "numpy", "onnxruntime", "botocore"):
        assert probe["origins"][module].startswith(str(task_root)), probe["origins"]
    assert {m: probe["origins"][m] for m in HEAVY} == dict.fromkeys(HEAVY)

    for name, event, (kind, answer) in zip(names, events, answers, strict=True):
        CHECKS[name](event, kind, answer)
