"""The monitoring pipeline run with SequentialRunner on constructed hourly-run partitions."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset
from kedro_datasets.partitions import PartitionedDataset

from tests.conftest import load_parameters
from tests.monitoring.webhook_server import webhook_server
from yield_runway.monitoring.webhook_config import WebhookConfigDataset
from yield_runway.pipeline_registry import register_pipelines

FEATURES = ["apy", "tvlUsd", "chain_factorized"]
N_POOLS, N_DAYS = 60, 45
START = pd.Timestamp("2025-03-01")


@pytest.fixture(autouse=True)
def _close_figures():
    """The plots stay in memory datasets here: close them so figures do not pile up."""
    yield
    plt.close("all")


class KeptDataset(MemoryDataset):
    """A memory dataset the runner cannot release, so intermediate outputs can be inspected."""

    def _release(self) -> None:
        pass


def _runs(shift_last_run: bool) -> dict[str, pd.DataFrame]:
    """One run a day (23:00 UTC): half the pools steady, half falling 3% a day."""
    rng = np.random.default_rng(0)
    falling = np.arange(N_POOLS) % 2 == 1
    level = rng.lognormal(1.5, 0.3, N_POOLS)
    runs = {}
    for d in range(N_DAYS):
        apy = np.where(falling, level * 0.97**d, level)
        if shift_last_run and d == N_DAYS - 1:
            apy = apy + 3 * apy.std()
        day = START + pd.Timedelta(days=d)
        runs[f"{day:%Y-%m-%d}T23"] = pd.DataFrame(
            {
                "pool": [f"pool-{i:02d}" for i in range(N_POOLS)],
                "run_timestamp": (day + pd.Timedelta(hours=23)).tz_localize("UTC"),
                "date": day,
                "apy": apy,
                "tvlUsd": rng.lognormal(14, 1, N_POOLS),
                "chain_factorized": np.arange(N_POOLS) % 3,
                "n_samples": d + 10,
                # A perfect predictor: the falling pools are the Down ones.
                "p_stable_up": np.where(falling, 0.2, 0.9),
                "served": True,
            }
        )
    return runs


def _reference() -> list[dict]:
    """The training reference: the same pools' features, as the last training day's rows."""
    first = _runs(shift_last_run=False)[f"{START + pd.Timedelta(days=N_DAYS - 1):%Y-%m-%d}T23"]
    return first.assign(date=first["date"].dt.strftime("%Y-%m-%d"))[
        ["pool", "date", *FEATURES]
    ].to_dict(orient="records")


def _run_pipeline(tmp_path, runs, webhook: dict | None, alert_overrides: dict | None = None):
    store = PartitionedDataset(
        path=str(tmp_path / "hourly_predictions"),
        dataset="pandas.ParquetDataset",
        filename_suffix=".parquet",
    )
    store.save(runs)
    params = load_parameters()
    monitoring = params["monitoring"]
    monitoring["realised"] = {**monitoring["realised"], "rolling_window_days": 7, "min_rows": 50}
    monitoring["alerts"] = {
        **monitoring["alerts"],
        "backoff": {"base_s": 0.01, "factor": 2.0, "max_s": 0.05},
        **(alert_overrides or {}),
    }
    reports = tmp_path / "reporting"
    datasets = {
        "monitoring_hourly_predictions": store,
        "feature_reference": MemoryDataset(_reference()),
        "feature_list": MemoryDataset(FEATURES),
        "params:target": MemoryDataset(params["target"]),
        "monitoring_webhook": WebhookConfigDataset(credentials=webhook),
        **{
            name: JSONDataset(filepath=str(reports / f"{name}.json"))
            for name in (
                "monitoring_drift_report",
                "monitoring_drift_summary",
                "monitoring_realised_summary",
                "monitoring_alerts",
            )
        },
    }
    for name in ("monitoring_realised_performance", "monitoring_calibration_table"):
        datasets[name] = KeptDataset(copy_mode="assign")
    for key, value in monitoring.items():
        datasets[f"params:monitoring.{key}"] = MemoryDataset(value)
    partition_format = load_parameters()["inference"]["partition_format"]
    datasets["params:inference.partition_format"] = MemoryDataset(partition_format)
    catalog = DataCatalog(datasets=datasets)
    outputs = SequentialRunner().run(register_pipelines()["monitoring"], catalog)
    for name in ("monitoring_realised_performance", "monitoring_calibration_table"):
        outputs[name] = catalog.load(name)
    saved = {p.stem: json.loads(p.read_text()) for p in reports.glob("*.json")}
    return saved, outputs


def test_no_drift_and_a_perfect_predictor_make_no_call(tmp_path):
    with webhook_server() as server:
        saved, outputs = _run_pipeline(tmp_path, _runs(shift_last_run=False), {"url": server.url})
    assert server.received == []
    drift = saved["monitoring_drift_summary"]
    assert drift["n_drifted"] == 0 and drift["n_current"] == N_POOLS
    assert drift["current_run_timestamp"] == "2025-04-14T23:00:00.000Z"
    realised = saved["monitoring_realised_summary"]
    # Day 44 is still being written; labels need days d+1..d+30 up to day 43: days 0..13.
    assert realised["n_matured"] == 14 * N_POOLS
    assert realised["overall"]["roc_auc"] == 1.0 and realised["overall"]["positive_rate"] == 0.5
    assert realised["latest_window"]["n"] == 7 * N_POOLS and not realised["decay_flagged"]
    assert saved["monitoring_alerts"]["status"] == "no_flag"
    performance = outputs["monitoring_realised_performance"]
    assert set(performance["scope"]) == {"day", "rolling"} and len(performance) == 28
    calibration = outputs["monitoring_calibration_table"]
    overall = calibration.loc[calibration["scope"] == "all"].set_index("bin")
    assert overall["count"].to_dict() == {2: 7 * N_POOLS, 9: 7 * N_POOLS}
    assert overall["observed_rate"].to_dict() == {2: 0.0, 9: 1.0}
    assert outputs["monitoring_drift_plot"] is not None


def test_drift_posts_an_alert(tmp_path):
    with webhook_server() as server:
        saved, _ = _run_pipeline(tmp_path, _runs(shift_last_run=True), {"url": server.url})
    assert saved["monitoring_drift_summary"]["drifted_features"] == ["apy"]
    (body,) = server.received
    assert body["content"] == "yield-runway monitoring: drift in 1 feature(s)"
    assert body["embeds"][0]["fields"][0]["name"] == "apy"
    assert saved["monitoring_alerts"]["status"] == "sent"


def test_a_failing_webhook_is_retried_and_the_reports_are_still_written(tmp_path):
    with webhook_server(default_status=500) as server:
        saved, _ = _run_pipeline(
            tmp_path, _runs(shift_last_run=True), {"url": server.url}, {"max_retries": 2}
        )
    assert len(server.received) == 3
    alerts = saved["monitoring_alerts"]
    assert (alerts["status"], alerts["attempts"], alerts["http_status"]) == ("failed", 3, 500)
    assert saved["monitoring_drift_report"][0]["feature"] == "apy"
    assert saved["monitoring_drift_report"][0]["drifted"]
    assert saved["monitoring_realised_summary"]["n_matured"] == 14 * N_POOLS


def test_no_credentials_means_no_alert(tmp_path):
    saved, _ = _run_pipeline(tmp_path, _runs(shift_last_run=True), None)
    assert saved["monitoring_alerts"]["status"] == "not_configured"
    assert saved["monitoring_drift_summary"]["drift_flagged"]


@pytest.mark.parametrize("credentials", [None, {"url": "https://example.invalid/hook"}])
def test_webhook_dataset_never_describes_the_url(credentials):
    dataset = WebhookConfigDataset(credentials=credentials)
    assert "example.invalid" not in str(dataset)
    assert dataset.load() == (credentials or {})
