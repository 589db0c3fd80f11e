"""Replay the training history as stored hourly prediction runs, so monitoring has data to score.

For each day in a range it writes one partition, `<YYYY-MM-DDTHH>.parquet` (UTC), into the
`monitoring_hourly_predictions` dataset (data/07_model_output/hourly_predictions), in the layout
the hourly inference pipeline writes: pool, run_timestamp, date, chain, project, apy, tvlUsd,
n_samples, every feature of feature_list, p_stable_up, predictedClass, predictedProbability,
binnedConfidence, served. Each day's rows are that day's observed pool-days of
data/04_feature/pool_features.parquet, scored with `predict_proba`; the contract fields follow
DESIGN.md (null when apy <= 0 or fewer than `served_population.min_samples` daily samples;
binnedConfidence is the tercile of predictedProbability across the day's served pools).

Why this is an honest replay: every feature is backward-looking (expanding, rolling and lagged
statistics of days up to and including the scored day), so a row of pool_features is what the
hourly run at the end of that day would have computed. The label is not used.

Which model scores the rows (`--model`):
- `development` (default): the champion's specification refit on the development rows only
  (dates up to `splits.development_end`, purged `purge_days` before the holdout), wrapped with the
  served champion's calibrator, which was fit on out-of-fold CV scores. This is exactly the
  calibrated model that training's holdout metrics score, so the realised performance of the
  replayed holdout should agree with `metrics.json` -> champion_calibrated -> holdout_served.
- `served`: the stored champion (data/06_models/champion_model.joblib, latest version). It is
  refit on ALL labelled rows, holdout included, so over the whole sample it is scored in-sample
  and its realised performance is OPTIMISTIC; only days after `splits.holdout_end` are out of
  sample for it, and those days have no known outcome in the sample.

The default range is the holdout period: from `splits.holdout_start` of
data/08_reporting/metrics.json to the last day of pool_features. Days after `holdout_end` are
replayed too because their outcomes are what label the holdout's last 30 days.

Usage (from the project root, after `kedro run --pipeline=training`):

    KEDRO_DISABLE_TELEMETRY=1 python scripts/replay_hourly.py
    KEDRO_DISABLE_TELEMETRY=1 python scripts/replay_hourly.py \
        --start 2025-09-01 --end 2025-10-31 --hour 23 --model served
    KEDRO_DISABLE_TELEMETRY=1 kedro run --pipeline=monitoring

Replay into a development store only: a replayed partition overwrites a real run of the same hour.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from yield_runway.labels import CLASS_NAMES, DOWN, STABLE_UP
from yield_runway.models.calibration import CalibratedModel
from yield_runway.monitoring.partitions import partition_id
from yield_runway.pipelines.modelling.nodes import refit_served_model

logger = logging.getLogger("replay_hourly")

OUTPUT = "monitoring_hourly_predictions"
ID_COLUMNS = ["pool", "run_timestamp", "date", "chain", "project", "apy", "tvlUsd", "n_samples"]
CONTRACT_COLUMNS = [
    "p_stable_up",
    "predictedClass",
    "predictedProbability",
    "binnedConfidence",
    "served",
]


def contract_predictions(
    run: pd.DataFrame, p_stable_up: np.ndarray, min_samples: int
) -> pd.DataFrame:
    """The predictions contract of one run: served flag, class, probability, confidence tercile."""
    served = (run["apy"] > 0) & (run["n_samples"] >= min_samples)
    p = pd.Series(p_stable_up, index=run.index).where(served)
    stable = p >= 0.5
    probability = (100 * p.where(stable, 1 - p)).where(served)
    # Terciles by rank, so ties and runs of one or two pools still get a bin (qcut would fail).
    tercile = np.ceil(3 * probability.rank(method="average", pct=True))
    return run.assign(
        p_stable_up=p,
        predictedClass=pd.Series(
            np.where(stable, CLASS_NAMES[STABLE_UP], CLASS_NAMES[DOWN]), index=run.index
        ).where(served),
        predictedProbability=probability,
        binnedConfidence=tercile.astype("Int64"),
        served=served,
    )


def replay_model(catalog: Any, metrics: dict[str, Any], mode: str) -> CalibratedModel:
    """The model that scores the replay: development refit (out of time) or the served champion."""
    champion: CalibratedModel = catalog.load("champion_model")
    if mode == "served":
        return champion
    table = catalog.load("model_input_table")
    development = table.loc[table["date"] <= pd.Timestamp(metrics["splits"]["development_end"])]
    name = metrics["champion"]
    return refit_served_model(
        development,
        catalog.load("feature_list"),
        catalog.load("params:models"),
        name,
        {name: champion.calibrator},
    )


def replay_runs(
    features: pd.DataFrame,
    feature_list: list[str],
    model: CalibratedModel,
    days: pd.DatetimeIndex,
    hour: int,
    min_samples: int,
    partition_format: str,
) -> dict[str, pd.DataFrame]:
    """One run per day: that day's observed pool-days, scored, at `hour` UTC."""
    rows = features.loc[features["observed"] & features["date"].isin(days)]
    p = model.predict_proba(rows[feature_list])[:, 1]
    scored = rows.assign(
        run_timestamp=(rows["date"] + pd.Timedelta(hours=hour)).dt.tz_localize("UTC"), p=p
    )
    # apy and tvlUsd are features too: each column appears once.
    columns = list(dict.fromkeys(ID_COLUMNS + feature_list + CONTRACT_COLUMNS))
    runs = {}
    for day, run in scored.groupby("date", sort=True):
        predictions = contract_predictions(run, run["p"].to_numpy(), min_samples)
        run_time = day + pd.Timedelta(hours=hour)
        runs[partition_id(run_time, partition_format)] = predictions[columns].reset_index(drop=True)
    return runs


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, score the chosen days and save them as hourly partitions."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", help="first day (default: the holdout start)")
    parser.add_argument("--end", help="last day (default: the last day of pool_features)")
    parser.add_argument("--hour", type=int, default=23, help="UTC hour of each run (default 23)")
    parser.add_argument("--model", choices=["development", "served"], default="development")
    parser.add_argument("--env", default=None, help="Kedro configuration environment")
    parser.add_argument("--project-path", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    bootstrap_project(args.project_path)
    with KedroSession.create(project_path=args.project_path, env=args.env) as session:
        catalog = session.load_context().catalog
        metrics = catalog.load("metrics")
        features = catalog.load("pool_features")
        feature_list = catalog.load("feature_list")
        start = pd.Timestamp(args.start or metrics["splits"]["holdout_start"])
        end = pd.Timestamp(args.end) if args.end else features["date"].max()
        days = pd.date_range(start, end, freq="D", unit="us")
        logger.info(
            "Replaying %s..%s at %02d:00 UTC with the %s model",
            start.date(),
            end.date(),
            args.hour,
            args.model,
        )
        model = replay_model(catalog, metrics, args.model)
        min_samples = catalog.load("params:served_population")["min_samples"]
        partition_format = catalog.load("params:inference.partition_format")
        runs = replay_runs(
            features, feature_list, model, days, args.hour, min_samples, partition_format
        )
        catalog.save(OUTPUT, runs)
        served = sum(int(run["served"].sum()) for run in runs.values())
        logger.info("Wrote %d runs (%d served pool-days) to %s", len(runs), served, OUTPUT)


if __name__ == "__main__":
    main()
