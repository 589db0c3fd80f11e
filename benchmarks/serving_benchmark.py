"""Serving benchmark: warm handler latency, cold start, peak memory, runtime dependency size,
and the champion served two ways side by side: scikit-learn (unpickled) and ONNX (the release).

    KEDRO_DISABLE_TELEMETRY=1 python benchmarks/serving_benchmark.py [--data data] [--repeat 7]

Needs trained artefacts (`kedro run --pipeline=training`) under --data (a local path).
Targets: 20,000 rows under 1 s warm, peak memory under 1 GB.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COLD_START = """
import time
started = time.perf_counter()
from yield_runway.serving.lambda_handler import artefact_store
imported = time.perf_counter()
artefact_store().get()
loaded = time.perf_counter()
print(f"{imported - started:.3f} {loaded - imported:.3f}")
"""


# One fresh process per path: import, load and first answer, then warm latencies and peak RSS.
MODEL_PATH = """
import json, resource, statistics, sys, time
started = time.perf_counter()
path, data, rows_file, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
columns = json.load(open(f"{data}/06_models/feature_list.json"))  # the rows' columns
import numpy as np
if path == "sklearn":
    import glob, joblib, pandas as pd
    model = joblib.load(sorted(glob.glob(f"{data}/06_models/champion_model.joblib/*/*.joblib"))[-1])
    for _, step in model.model.steps:  # one thread, as on Lambda
        if hasattr(step, "n_jobs"):
            step.n_jobs = 1
    score = lambda X: model.predict_proba(pd.DataFrame(X, columns=columns))[:, 1]
else:
    import fsspec
    from yield_runway.serving.release import read_release
    release = read_release(fsspec.filesystem("file"), f"{data}/06_models/release", n_jobs=1)
    model = release.models["champion_model"]
    taken = [columns.index(f) for f in model.features]
    score = lambda X: model.predict_proba(X[:, taken])[:, 1]
rows = np.load(rows_file)
score(rows[:1])
first = time.perf_counter() - started
warm = {}
for n in (1, 1_000, 20_000):
    times = []
    for _ in range(repeat):
        t = time.perf_counter(); score(rows[:n]); times.append(time.perf_counter() - t)
    warm[n] = statistics.median(times)
np.save(rows_file.replace(".npy", f".{path}.npy"), score(rows))
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would hold the parent's peak.
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
peak = int(hwm.split()[1]) / 1024
print(json.dumps({"cold": first, "warm": warm, "peak_mb": peak}))
"""


# The Lambda zip's cold start: a fresh Python 3.12 with only the unpacked zip (and the stdlib)
# on the path, importing the handler and answering one request.
ZIP_COLD_START = """
import json, sys, time
started = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from yield_runway.serving.lambda_handler import handler
imported = time.perf_counter()
result = handler(json.load(open(sys.argv[2])), None)
assert result["statusCode"] == 200, result
print(f"{imported - started:.3f} {time.perf_counter() - started:.3f}")
"""


def lambda_python() -> str | None:
    """A Python 3.12 as Lambda's runtime runs (LAMBDA_PYTHON, python3.12, pyenv's), if any."""
    candidates = [os.environ.get("LAMBDA_PYTHON"), "python3.12"]
    candidates += sorted(str(p) for p in Path("/root/.pyenv/versions").glob("3.12*/bin/python3.12"))
    for candidate in filter(None, candidates):
        check = [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 12)"]
        if subprocess.run(check, capture_output=True).returncode == 0:
            return candidate
    return None


def zip_cold_start(package: Path) -> None:
    """Print the zip's sizes and cold start per route, a fresh process each, median of 3."""
    import tempfile
    import zipfile

    python = lambda_python()
    if not package.exists() or python is None:
        print(f"\nLambda zip: skipped ({package} or a Python 3.12 is missing; deploy/build_zip.sh)")
        return
    with zipfile.ZipFile(package) as archive, tempfile.TemporaryDirectory() as folder:
        unzipped = sum(info.file_size for info in archive.infolist())
        archive.extractall(folder)
        print(
            f"\nLambda zip {package.name}: {package.stat().st_size / 1e6:.1f} MB zipped, "
            f"{unzipped / 1e6:.1f} MB unzipped; cold start under {python} -I -S, only the "
            "unpacked zip on the path (median of 3 fresh processes):"
        )
        for event in ("api_request.json", "pools_request.json"):
            runs, request = [], str(ROOT / "deploy/events" / event)
            for _ in range(3):
                out = subprocess.run(
                    [python, "-I", "-S", "-c", ZIP_COLD_START, folder, request],
                    capture_output=True, text=True, check=True, env=os.environ, cwd=folder,
                )  # fmt: skip
                runs.append([float(x) for x in out.stdout.split()[-2:]])
            imported, answered = (statistics.median(r[i] for r in runs) for i in (0, 1))
            print(f"  {event}: import {imported:.3f} s, first answer at {answered:.3f} s")


def compare_paths(data: Path, repeat: int) -> None:
    """Print the champion's cold start, warm latency, peak RSS and dependencies per path."""
    import tempfile

    import numpy as np
    import pandas as pd

    features = json.loads((data / "06_models/feature_list.json").read_text())
    table = pd.read_parquet(data / "05_model_input/model_input_table.parquet")
    rows = table[features].to_numpy(dtype=float)
    rows = rows[np.random.default_rng(0).integers(0, len(rows), 20_000)]
    with tempfile.TemporaryDirectory() as folder:
        rows_file = f"{folder}/rows.npy"
        np.save(rows_file, rows)
        results, scores = {}, {}
        for path in ("sklearn", "onnx"):
            out = subprocess.run(
                [sys.executable, "-c", MODEL_PATH, path, str(data), rows_file, str(repeat)],
                capture_output=True, text=True, check=True, env=os.environ,
            )  # fmt: skip
            results[path] = json.loads(out.stdout.strip().splitlines()[-1])
            scores[path] = np.load(rows_file.replace(".npy", f".{path}.npy"))
    sizes = {
        "sklearn": dependency_closure("scikit-learn") | dependency_closure("pandas") | {"joblib"},
        "onnx": dependency_closure("onnxruntime"),
    }
    print("\nThe champion served two ways (fresh process each, one thread each as on Lambda;")
    print("rows drawn from the model input table)")
    print(
        "| path | cold: import + load + first answer | 1 row | 1,000 rows | 20,000 rows |"
        " peak RSS | dependencies |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for path, r in results.items():
        warm = " | ".join(f"{r['warm'][str(n)] * 1000:.2f} ms" for n in (1, 1_000, 20_000))
        print(
            f"| {path} | {r['cold']:.3f} s | {warm} | {r['peak_mb']:.0f} MB |"
            f" {len(sizes[path])} distributions, {installed_mb(sizes[path]):.0f} MB |"
        )
    gap = float(np.max(np.abs(scores["sklearn"] - scores["onnx"])))
    print(f"max |P(sklearn) - P(onnx)| over the 20,000 rows: {gap:.2g}")


def legacy_event(n_rows: int) -> dict:
    """A payload 2.0 request with `n_rows` random legacy feature rows."""
    import numpy as np

    rng = np.random.default_rng(n_rows)
    rows = [
        {
            "apy": float(a),
            "tvlUsd": float(t),
            "apyMeanExpanding": float(m),
            "apyStdExpanding": float(s),
            "chain_factorized": int(c),
            "project_factorized": int(p),
        }
        for a, t, m, s, c, p in zip(
            rng.lognormal(1, 1, n_rows),
            rng.lognormal(13, 2, n_rows),
            rng.lognormal(1, 1, n_rows),
            rng.lognormal(0, 1, n_rows),
            rng.integers(-1, 5, n_rows),
            rng.integers(-1, 20, n_rows),
            strict=True,
        )
    ]
    return api_event("/predictions", rows)


def pools_event(data: Path, n_rows: int) -> dict:
    """A `POST /predictions/pools` request of `n_rows` snapshot objects: the sample snapshot's
    pools (known to the state), then copies under new ids (new pools, scored from nothing)."""
    snapshot = [o for o in json.loads((data / "01_raw/pools_snapshot.json").read_text())
                if isinstance(o, dict) and isinstance(o.get("pool"), str)]  # fmt: skip
    objects = [
        {**o, "pool": o["pool"] if i < len(snapshot) else f"{o['pool']}-copy-{i}"}
        for i, o in zip(range(n_rows), itertools.cycle(snapshot), strict=False)
    ]
    return api_event("/predictions/pools", objects)


def api_event(path: str, rows: list) -> dict:
    """A payload 2.0 POST request of `rows`."""
    return {
        "version": "2.0",
        "routeKey": f"POST {path}",
        "rawPath": path,
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": path}, "requestId": "bench"},
        "body": json.dumps(rows),
        "isBase64Encoded": False,
    }


def dependency_closure(package: str) -> set[str]:
    """The installed distributions a package needs at runtime (no extras), transitively."""
    seen: set[str] = set()
    todo = [package]
    while todo:
        name = re.split(r"[\s\[<>=!~;(]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for requirement in dist.requires or []:
            # Only unconditional requirements or ones for this platform/python, never extras.
            if "extra ==" in requirement:
                continue
            todo.append(requirement)
    return seen


def installed_mb(names: set[str]) -> float:
    """Size on disk of the distributions' installed files, in MB."""
    total = 0
    for name in names:
        for file in metadata.distribution(name).files or []:
            path = file.locate()
            if path.is_file():
                total += path.stat().st_size
    return total / 1e6


def main() -> None:
    """Run every measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "data"))
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("YIELD_RUNWAY_DATA_URI", args.data)
    os.environ.setdefault("YIELD_RUNWAY_CONF_SOURCE", str(ROOT / "conf"))
    os.environ.setdefault("YIELD_RUNWAY_KEDRO_ENV", "local")
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")

    cold = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", COLD_START],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ,
        )
        cold.append([float(x) for x in out.stdout.split()[-2:]])
    imports, loads = (statistics.median(c[i] for c in cold) for i in (0, 1))

    from yield_runway.serving.lambda_handler import handler

    # The sample's state ends long before today: every pools request would log that warning.
    logging.getLogger("yield_runway.serving.pools").setLevel(logging.ERROR)

    print(f"Serving benchmark (artefacts: {args.data}; median of {args.repeat} warm runs)")
    print(
        f"cold start: import {imports:.3f} s + artefact load {loads:.3f} s = "
        f"{imports + loads:.3f} s (fresh process, median of 3)"
    )
    routes = [("legacy", n, legacy_event(n)) for n in (1, 1_000, 20_000)]
    routes += [("pools", n, pools_event(Path(args.data), n)) for n in (1, 1_000, 20_000)]
    for route, n_rows, event in routes:
        handler(event, None)  # warm-up
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            result = handler(event, None)
            times.append(time.perf_counter() - started)
        assert result["statusCode"] == 200, result["body"][:300]
        print(
            f"warm handler, {route:>6} route, {n_rows:>6,} rows: "
            f"median {statistics.median(times) * 1000:8.1f} ms"
            f"  (min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS, this process after the 20,000-row runs): {peak_mb:.0f} MB")
    names = dependency_closure("yield_runway") - {"yield-runway"}
    print(
        f"installed runtime dependencies: {len(names)} distributions, "
        f"{installed_mb(names):.0f} MB (transitive closure of the wheel's requirements)"
    )
    print("targets: 20,000 rows < 1000 ms warm; peak memory < 1024 MB")
    compare_paths(Path(args.data), args.repeat)
    zip_cold_start(ROOT / "dist/api-lambda.zip")


if __name__ == "__main__":
    main()
