"""Pointed at a server that speaks the DefiLlama API, `ingestion` then `training` give a model."""

from __future__ import annotations

import json
import shutil

import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import load_parameters, make_raw_history, write_small_conf
from tests.ingestion.fake_api import ok, pool_object


def _serve_history(api, raw: pd.DataFrame) -> None:
    """/pools and one /chart per pool (the day's last snapshot, as the API serves them)."""
    daily = raw.assign(day=raw["timestamp"].str[:10]).groupby(["pool", "day"]).tail(1)
    pools = []
    for i, (pool, rows) in enumerate(daily.groupby("pool", sort=True)):
        first = rows.iloc[0]
        pools.append(
            pool_object(pool, tvl=5e6 - i * 1e5, chain=first["chain"], project=first["project"])
        )
        points = [
            {
                "timestamp": row.timestamp,
                "tvlUsd": float(row.tvlUsd),
                "apy": float(row.apy),
                "apyBase": float(row.apyBase),
                "apyReward": None if pd.isna(row.apyReward) else float(row.apyReward),
                "il7d": None,
                "apyBase7d": None,
            }
            for row in rows.itertuples()
        ]
        api.script(f"/chart/{pool}", ok(points))
    api.script("/pools", ok(pools))


def test_ingestion_then_training_produce_a_model(api, tmp_path, monkeypatch):
    raw = make_raw_history(n_pools=8, n_days=190, seed=3)
    _serve_history(api, raw)
    root = write_small_conf(tmp_path)
    # `--env live` replaces the local env: the small-data parameters go with it.
    shutil.copy(
        root / "conf" / "local" / "parameters.yml", root / "conf" / "live" / "parameters.yml"
    )
    monkeypatch.chdir(root)
    bootstrap_project(root)
    fast = {"base_url": api.url, "requests_per_second": 1000, "timeout_s": 5}
    ingestion = {"ingestion": {**load_parameters()["ingestion"], **fast}}
    with KedroSession.create(project_path=root, env="live", runtime_params=ingestion) as session:
        session.run(pipeline_names=["ingestion"])
    with KedroSession.create(project_path=root, env="live") as session:
        session.run(pipeline_names=["training"])

    summary = json.loads((root / "data/live/08_reporting/ingestion_summary.json").read_text())
    assert summary["pools_selected"] == summary["pools_fetched"] == 8
    cleaning = json.loads((root / "data/live/08_reporting/cleaning_report.json").read_text())
    assert cleaning["pools"] == 8 and cleaning["rows_raw"] == raw["pool"].size // 2
    metrics = json.loads((root / "data/live/08_reporting/metrics.json").read_text())
    assert metrics["rows"]["pools"] == 8
    assert metrics["models"][metrics["champion"]]["holdout"]["roc_auc"] > 0.5
    assert list((root / "data/live/06_models/champion_model.joblib").iterdir())
