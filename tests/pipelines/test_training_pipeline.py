"""The training pipeline run with SequentialRunner on a small in-memory history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.ibis import FileDataset
from kedro_datasets.pandas import ParquetDataset
from sklearn.metrics import roc_auc_score

from tests.conftest import make_raw_history, make_snapshot, small_test_parameters
from tests.pipelines.data_engineering import engine
from yield_runway.pipeline_registry import register_pipelines

OUTPUTS = [
    "cleaning_report",
    "pool_features",
    "feature_list",
    "categorical_mapping",
    "model_input_table",
    "metrics",
    "holdout_predictions",
    "champion_model",
    "legacy_model",
    "model_release",
    "feature_reference",
    "feature_importance",
    "metrics_table",
    "model_report",
]


class KeptDataset(MemoryDataset):
    """A memory dataset the runner cannot release, so intermediate outputs can be inspected."""

    def _release(self) -> None:
        pass


@pytest.fixture(scope="module")
def training_outputs(tmp_path_factory) -> dict:
    raw = make_raw_history(n_pools=12, n_days=200, seed=3)
    work = tmp_path_factory.mktemp("training")
    history = engine.write_csv(raw, work / "pools_history.csv")
    # The engine's files, as the catalog has them: the raw CSV, the readings and the grid.
    connection = engine.connection(work)
    grid = str(work / "pools_daily.parquet")
    datasets = {
        "pools_history@ibis": FileDataset(
            str(history), "csv", connection=connection, load_args=engine.GLOBALS["raw_csv_args"]
        ),
        "snapshot_readings": FileDataset(str(work / "readings.parquet"), connection=connection),
        "pools_daily@ibis": FileDataset(grid, connection=connection),
        "pools_daily@pandas": ParquetDataset(filepath=grid),
        "pools_snapshot": MemoryDataset(make_snapshot(raw)),
        "trained_history": MemoryDataset({}),  # a first training: no release in service
    }
    for key, value in small_test_parameters().items():
        datasets[f"params:{key}"] = MemoryDataset(value)
        # Nested parameters by their dotted names, as Kedro's catalog offers them.
        for name, nested in value.items() if isinstance(value, dict) else []:
            datasets[f"params:{key}.{name}"] = MemoryDataset(nested)
    for name in OUTPUTS:
        datasets[name] = KeptDataset(copy_mode="assign")
    catalog = DataCatalog(datasets=datasets)
    SequentialRunner().run(register_pipelines()["training"], catalog)
    return {name: catalog.load(name) for name in [*OUTPUTS, "pools_daily@pandas"]} | {
        "pools_daily": catalog.load("pools_daily@pandas")
    }


def test_training_writes_every_artefact(training_outputs):
    assert set(training_outputs) >= set(OUTPUTS)
    release = training_outputs["model_release"]
    assert {"champion_model.onnx", "legacy_model.onnx"} <= set(release["files"])
    assert release["history"]["rows_raw"] == training_outputs["cleaning_report"]["rows_raw"]
    report = training_outputs["cleaning_report"]
    # A clean history loses only the top 0.1% of APY rows, to the outlier rule.
    assert report["rows_dropped"] == report["dropped_by_reason"]["apy_outlier"]
    assert report["rows_dropped"] == int(np.ceil(report["rows_raw"] * 0.001)) - 1
    mapping = training_outputs["categorical_mapping"]
    # Codes in order of first appearance, so past codes never shift as the history grows.
    daily = training_outputs["pools_daily"]
    first_chains = daily.groupby("chain")["date"].min().reset_index()
    expected = first_chains.sort_values(["date", "chain"])["chain"].tolist()
    assert list(mapping["chain_factorized"]) == expected
    assert sorted(mapping["chain_factorized"].values()) == [0, 1, 2]
    assert set(mapping["project_factorized"]) == {"aave-v3", "uniswap-v3"}
    assert len(training_outputs["feature_reference"]) == 12


def test_metrics_agree_with_holdout_predictions(training_outputs):
    metrics, holdout = training_outputs["metrics"], training_outputs["holdout_predictions"]
    assert holdout["date"].min() == pd.Timestamp(metrics["splits"]["holdout_start"])
    for name, entry in metrics["models"].items():
        recomputed = roc_auc_score(holdout["target"], holdout[f"score_{name}"])
        assert entry["holdout"]["roc_auc"] == pytest.approx(recomputed)
        served = holdout["served"]
        recomputed = roc_auc_score(
            holdout.loc[served, "target"], holdout.loc[served, f"score_{name}"]
        )
        assert entry["holdout_served"]["roc_auc"] == pytest.approx(recomputed)
    assert entry["holdout"]["n"] == len(holdout)


def test_no_training_date_within_the_purge_gap(training_outputs):
    splits = training_outputs["metrics"]["splits"]
    for fold in splits["folds"]:
        gap = pd.Timestamp(fold["validation_start"]) - pd.Timestamp(fold["train_end"])
        assert gap.days > splits["purge_days"] >= 30
    gap = pd.Timestamp(splits["holdout_start"]) - pd.Timestamp(splits["development_end"])
    assert gap.days > splits["purge_days"]


def test_cv_reports_the_served_population_of_every_fold(training_outputs):
    metrics = training_outputs["metrics"]
    table = training_outputs["model_input_table"]
    dates = pd.to_datetime(table["date"])
    cv = metrics["models"]["logistic_regression"]["cv"]
    for fold, entry in zip(metrics["splits"]["folds"], cv["folds"], strict=True):
        start, end = pd.Timestamp(fold["validation_start"]), pd.Timestamp(fold["validation_end"])
        valid = table.loc[(dates >= start) & (dates <= end)]
        assert entry["n"] == len(valid)
        assert entry["served"]["n"] == int(valid["served"].sum())
    aucs = [f["served"]["roc_auc"] for f in cv["folds"]]
    assert cv["served_roc_auc_mean"] == pytest.approx(np.mean(aucs))


def test_champion_learns_the_mean_reversion(training_outputs):
    metrics = training_outputs["metrics"]
    champion = metrics["champion"]
    assert champion not in {"majority_class"}
    cv = {name: e["cv"]["roc_auc_mean"] for name, e in metrics["models"].items() if "cv" in e}
    assert cv[champion] == max(cv.values())
    # Mean-reverting APY is predictable from its distance to the mean, well above chance.
    assert metrics["models"][champion]["holdout"]["roc_auc"] > 0.7
    assert metrics["models"]["majority_class"]["holdout"]["roc_auc"] == 0.5


def test_served_model_scores_feature_rows(training_outputs):
    model = training_outputs["champion_model"]
    features = training_outputs["pool_features"]
    rows = features.loc[features["observed"], training_outputs["feature_list"]].tail(50)
    p = model.predict_proba(rows)
    assert p.shape == (50, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p[:, 1].min() > 0.0 and p[:, 1].max() < 1.0


def test_model_report_quotes_the_metrics(training_outputs):
    report = training_outputs["model_report"]
    metrics = training_outputs["metrics"]
    champion = metrics["champion"]
    holdout_auc = metrics["models"][champion]["holdout"]["roc_auc"]
    row = next(line for line in report.splitlines() if line.startswith(f"| {champion} *"))
    assert f"{holdout_auc:.3f}" in row
    assert (
        f"holdout {metrics['splits']['holdout_start']}..{metrics['splits']['holdout_end']}"
        in report
    )
    for image in ("roc_curves.png", "calibration_curve.png", "feature_importance.png"):
        assert f"]({image})" in report
    assert "| duplicate_row | 0 |" in report


def test_legacy_model_serves_the_six_original_features(training_outputs):
    legacy = training_outputs["legacy_model"]
    assert legacy.features == [
        "apy",
        "tvlUsd",
        "apyMeanExpanding",
        "apyStdExpanding",
        "chain_factorized",
        "project_factorized",
    ]
    features = training_outputs["pool_features"]
    rows = features.loc[features["observed"], legacy.features].tail(20)
    p = legacy.predict_proba(rows)
    assert p.shape == (20, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    metrics = training_outputs["metrics"]
    assert metrics["legacy_model"] == "random_forest_original6"
    assert "legacy_calibrated" in metrics["models"]
