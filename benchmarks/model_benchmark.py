"""Model cost: training time, saved artefact size (joblib, raw and compressed) and holdout AUC.

    KEDRO_DISABLE_TELEMETRY=1 kedro run --pipeline=training   # writes the model input table
    KEDRO_DISABLE_TELEMETRY=1 python benchmarks/model_benchmark.py

Part 1: every model of conf/base/parameters_modelling.yml `models`, fitted on the development
rows (as the training pipeline does), scored on the out-of-time holdout.
Part 2: the random forest's size as a function of training rows and of its size settings
(min_samples_leaf, max_depth), fitted on a share of all labelled rows as the served refit is.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from pathlib import Path

import joblib
import pandas as pd
import yaml
from sklearn.metrics import roc_auc_score

from yield_runway.models.fitting import fit_model
from yield_runway.models.splits import in_range

PROJECT = Path(__file__).resolve().parents[1]


def artefact_mb(model: object, compress: int) -> float:
    """Size of the joblib dump in MB."""
    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=compress)
    return buffer.getbuffer().nbytes / 1e6


def fit_and_measure(spec: dict, train: pd.DataFrame, test: pd.DataFrame, features: list[str]):
    """Fit one spec: (seconds, MB raw, MB compress=3, holdout AUC or None)."""
    began = time.perf_counter()
    model = fit_model(spec, train, features)
    seconds = time.perf_counter() - began
    auc = None
    if test is not None and test["target"].nunique() == 2:
        auc = roc_auc_score(test["target"], model.predict_proba(test[features])[:, 1])
    return seconds, artefact_mb(model, 0), artefact_mb(model, 3), auc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=PROJECT / "data")
    args = parser.parse_args(argv)
    params = yaml.safe_load((PROJECT / "conf/base/parameters_modelling.yml").read_text())
    table = pd.read_parquet(args.data / "05_model_input/model_input_table.parquet")
    splits = json.loads((args.data / "05_model_input/evaluation_splits.json").read_text())
    features = json.loads((args.data / "06_models/feature_list.json").read_text())
    dev = table.loc[in_range(table["date"], None, splits["development_end"])]
    holdout = table.loc[in_range(table["date"], splits["holdout_start"], splits["holdout_end"])]
    print(f"cores: {os.cpu_count()}  load: {os.getloadavg()[0]:.1f}  labelled rows: {len(table):,}")
    print(f"development rows: {len(dev):,}  holdout rows: {len(holdout):,}\n")

    print(f"{'model':<26} {'fit s':>6} {'MB raw':>7} {'MB z3':>6} {'holdout AUC':>11}")
    for name, spec in params["models"].items():
        seconds, raw, z3, auc = fit_and_measure(spec, dev, holdout, features)
        print(f"{name:<26} {seconds:>6.1f} {raw:>7.2f} {z3:>6.2f} {auc:>11.4f}")

    base = params["models"]["random_forest"]
    variants = {
        f"leaf {base['min_samples_leaf']} (current)": {},
        "leaf 20": {"min_samples_leaf": 20},
        "leaf 50": {"min_samples_leaf": 50},
        "current, depth 12": {"max_depth": 12},
    }
    print("\nrandom_forest size settings (development fit, holdout AUC):")
    print(f"{'setting':<20} {'fit s':>6} {'MB raw':>7} {'MB z3':>6} {'holdout AUC':>11}")
    for label, change in variants.items():
        seconds, raw, z3, auc = fit_and_measure({**base, **change}, dev, holdout, features)
        print(f"{label:<20} {seconds:>6.1f} {raw:>7.2f} {z3:>6.2f} {auc:>11.4f}")

    print("\nrandom_forest size vs training rows (refit on a share of all labelled rows):")
    print(f"{'setting':<20} {'rows':>8} {'MB raw':>7} {'MB z3':>6} {'KB raw/1k rows':>14}")
    for label in (f"leaf {base['min_samples_leaf']} (current)", "leaf 20", "current, depth 12"):
        for share in (0.25, 0.5, 1.0):
            rows = table.sample(frac=share, random_state=0) if share < 1 else table
            _, raw, z3, _ = fit_and_measure({**base, **variants[label]}, rows, None, features)
            per_k = 1000 * raw / len(rows) * 1000
            print(f"{label:<20} {len(rows):>8,} {raw:>7.2f} {z3:>6.2f} {per_k:>14.1f}")


if __name__ == "__main__":
    main()
