"""Shared fixtures: small hand-built pool histories and the project's own parameters."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from yield_runway.contracts import HISTORY_COLUMNS

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def load_parameters() -> dict:
    """All of conf/base/parameters_*.yml, merged."""
    params: dict = {}
    for path in sorted((PROJECT_ROOT / "conf" / "base").glob("parameters*.yml")):
        params.update(yaml.safe_load(path.read_text()) or {})
    return params


def small_test_parameters() -> dict:
    """Project parameters with splits sized for a few months of history."""
    params = load_parameters()
    params["split"] = {**params["split"], "cv_folds": 2, "min_train_days": 20}
    params["models"]["random_forest"] = {**params["models"]["random_forest"], "n_estimators": 20}
    params["models"]["gradient_boosting"] = {
        **params["models"]["gradient_boosting"],
        "max_iter": 30,
    }
    params["feature_importance"] = {**params["feature_importance"], "n_rows": 500, "n_repeats": 2}
    return params


def make_raw_history(n_pools: int = 12, n_days: int = 200, seed: int = 0) -> pd.DataFrame:
    """A raw pools.csv-shaped frame (text columns) of mean-reverting APY with launch spikes."""
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2025-01-01")
    for i in range(n_pools):
        pool = f"pool-{i:03d}"
        first = int(rng.integers(0, 20))
        level = float(rng.lognormal(1.5, 0.8))
        log_apy = np.log(level) + 1.5  # launch spike that reverts to the level
        for day in range(first, n_days):
            log_apy += 0.15 * (np.log(level) - log_apy) + rng.normal(0, 0.12)
            apy = float(np.exp(log_apy))
            reward = apy * 0.3 if i % 3 == 0 else None
            for hour in sorted(rng.choice(24, size=2, replace=False)):
                ts = start + pd.Timedelta(days=day, hours=int(hour), seconds=int(rng.integers(60)))
                rows.append(
                    {
                        "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                        "pool": pool,
                        "chain": ["Ethereum", "Solana", "Base"][i % 3],
                        "project": ["aave-v3", "uniswap-v3"][i % 2],
                        "symbol": "USDC",
                        "tvlUsd": f"{1e5 * (1 + i):.2f}",
                        "apy": f"{apy:.6f}",
                        "apyBase": f"{apy - (reward or 0):.6f}",
                        "apyReward": "" if reward is None else f"{reward:.6f}",
                    }
                )
    frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS).sort_values("timestamp", kind="stable")
    return frame.reset_index(drop=True).replace({"": None}).astype("string")


def make_snapshot(raw: pd.DataFrame) -> list[dict]:
    """A dataEnriched-shaped snapshot of every pool in a raw history."""
    last = raw.groupby("pool").tail(1)
    return [
        {
            "pool": row.pool,
            "chain": row.chain,
            "project": row.project,
            "symbol": row.symbol,
            "tvlUsd": float(row.tvlUsd),
            "apy": float(row.apy),
            "stablecoin": True,
            "ilRisk": "no",
            "exposure": "single",
        }
        for row in last.itertuples()
    ]


@pytest.fixture
def parameters() -> dict:
    """The project's base parameters."""
    return load_parameters()


@pytest.fixture
def raw_history() -> pd.DataFrame:
    """A small raw history: 12 pools over 200 days, two snapshots a day."""
    return make_raw_history()


def write_small_project(root: Path, raw: pd.DataFrame, snapshot: list[dict]) -> Path:
    """A copy of this project's conf with a small sample and small-data parameters under `root`."""
    import gzip
    import json

    raw_dir = write_small_conf(root) / "data" / "01_raw"
    raw_dir.mkdir(parents=True)
    with gzip.open(raw_dir / "pools_history.csv.gz", "wt") as handle:
        raw.to_csv(handle, index=False)
    (raw_dir / "pools_snapshot.json").write_text(json.dumps(snapshot))
    return root


def write_small_conf(root: Path) -> Path:
    """A copy of this project's conf under `root`, with the small-data parameters in local."""
    import shutil

    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "conf" / "local").mkdir()
    (root / "src").mkdir()  # bootstrap_project wants it; the package itself is installed
    small = small_test_parameters()
    overrides = {k: small[k] for k in ("split", "models", "feature_importance")}
    (root / "conf" / "local" / "parameters.yml").write_text(yaml.safe_dump(overrides))
    return root


@pytest.fixture
def s3_server():
    """A moto S3 server on 127.0.0.1 that s3fs and boto3 reach through AWS_ENDPOINT_URL_S3."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield endpoint
    patch.undo()
    server.stop()


@pytest.fixture(scope="session")
def trained_small_project(tmp_path_factory) -> Path:
    """A small project trained once per session (conf, data, artefacts); copy it to modify it."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    root = tmp_path_factory.mktemp("trained_project")
    raw = make_raw_history(n_pools=8, n_days=190, seed=7)
    write_small_project(root, raw, make_snapshot(raw))
    previous = os.getcwd()
    os.chdir(root)
    try:
        bootstrap_project(root)
        with KedroSession.create(project_path=root) as session:
            session.run(pipeline_names=["training"])
    finally:
        os.chdir(previous)
    return root
