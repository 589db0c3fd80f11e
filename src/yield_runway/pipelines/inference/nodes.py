"""Nodes of the inference pipeline: snapshot + feature state + champion -> predictions."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from yield_runway.features import market, state
from yield_runway.features.snapshot import object_problems, parse_snapshot
from yield_runway.features.state import StaleRunError
from yield_runway.predictions import CONTRACT_FIELDS, contract_records
from yield_runway.serving.release import Release, parameter_differences
from yield_runway.serving.scorer import OnnxScorer

logger = logging.getLogger(__name__)


ID_COLUMNS = ["pool", "run_timestamp", "date", "chain", "project", "apy", "tvlUsd", "n_samples"]
OUTPUT_COLUMNS = ["p_stable_up", *CONTRACT_FIELDS, "served"]


def unpack_release(
    model_release: Release, conf_parameters: dict[str, Any]
) -> tuple[OnnxScorer, list[str], dict[str, Any], dict[str, float], list[str]]:
    """The champion and the tables of the release in service, all from one verified version.

    Fails when the conf's model parameters are not those the release was trained with (the
    API computes features by the release's): the hourly run would serve another model.
    """
    trained = model_release.serving_parameters
    changed = [] if trained is None else parameter_differences(trained, conf_parameters)
    if changed:
        raise ValueError(
            f"the conf's {', '.join(changed[:5])} differ from what release "
            f"{model_release.version} was trained with: retrain, or restore the conf"
        )
    logger.info("Serving model release %s", model_release.version)
    return (
        model_release.models["champion_model"],
        model_release.feature_list,
        model_release.categorical_mapping,
        model_release.observation_limits,
        model_release.market_universe,
    )


def resolve_run_timestamp(value: str | None) -> pd.Timestamp:
    """The run's UTC timestamp: the given ISO time, or now when it is null."""
    stamp = pd.Timestamp.now(tz="UTC") if value is None else pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    logger.info("Inference run at %s (UTC day %s)", stamp.isoformat(), stamp.date())
    return stamp


def parse_pools_snapshot(
    pools_snapshot: list[Any], params: dict[str, Any], observation_limits: dict[str, float]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Check the snapshot's pool objects, skip and count bad ones, one row per pool."""
    rows, problems = parse_snapshot(pools_snapshot, params, observation_limits["apy_limit"])
    if not len(rows):
        # An outage upstream, not a market without pools: nothing is written, the run fails.
        raise ValueError(
            f"pools_snapshot has no usable pool object ({len(problems)} objects): nothing to "
            "score; the previous outputs and state stay"
        )
    skipped = {str(k): int(v) for k, v in problems.value_counts().items()}
    if skipped:
        logger.warning(
            "Skipped %d of %d snapshot pool objects: %s",
            sum(skipped.values()),
            len(problems),
            ", ".join(f"{k}={v}" for k, v in sorted(skipped.items())),
        )
    n_observed = int(rows["observation"].sum())
    logger.info(
        "Snapshot: %d pools; %d usable observations, %d without a valid apy/tvlUsd",
        len(rows),
        n_observed,
        len(rows) - n_observed,
    )
    report = {"objects": len(problems), "pools": len(rows), "skipped": skipped}
    return rows, report


def advance_feature_state(
    feature_state: pd.DataFrame,
    snapshot_rows: pd.DataFrame,
    run_timestamp: pd.Timestamp,
    params: dict[str, Any],
    daily_aggregation: str,
) -> pd.DataFrame:
    """Commit pending days before the run's day and store this run's values as pending."""
    if daily_aggregation != "last":
        # The state keeps the day's latest snapshot; a mean or median day would skew serving.
        raise ValueError(
            f"hourly inference supports daily_aggregation 'last' only, got {daily_aggregation!r}"
        )
    stale = state.stale_pools(feature_state, run_timestamp)
    if stale.any():
        # A late or duplicate event, or a backfill: a later run already wrote the outputs.
        raise StaleRunError(
            f"{int(stale.sum())} pools already hold a run later than {run_timestamp.isoformat()}:"
            " refusing to overwrite newer predictions and state with an older run"
        )
    days = state.trailing_days(params)
    updated = state.update_state(feature_state, snapshot_rows, run_timestamp, days)
    # The version read travels with the state: its commit replaces only that version.
    updated.attrs = dict(feature_state.attrs)
    logger.info("Feature state: %d pools (%d before)", len(updated), len(feature_state))
    return updated


def summarise_market_context(
    serving_features: pd.DataFrame, market_universe: list[str], params: dict[str, Any]
) -> dict[str, Any]:
    """This run's market: the snapshot's pools of the training universe observed today."""
    context = market.summarise(serving_features, params["market_context"], market_universe)
    return market.to_records(context)


def build_hourly_partition(
    scored: pd.DataFrame,
    run_timestamp: pd.Timestamp,
    feature_list: list[str],
    params: dict[str, Any],
) -> dict[str, pd.DataFrame]:
    """One flat table per run, keyed by the run's UTC hour (the monitoring pipeline reads it)."""
    features = [f for f in feature_list if f not in ID_COLUMNS]
    table = scored.assign(run_timestamp=run_timestamp)[[*ID_COLUMNS, *features, *OUTPUT_COLUMNS]]
    return {run_timestamp.strftime(params["partition_format"]): table.reset_index(drop=True)}


def enrich_snapshot(
    pools_snapshot: list[Any],
    scored: pd.DataFrame,
    run_timestamp: pd.Timestamp,
    feature_list: list[str],
    params: dict[str, Any],
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The snapshot's pool objects with `predictions` and `features` filled, latest and hourly.

    `predictions` is null where a pool is not served; `features` holds the values the model saw
    (null where a pool was not scored at all, e.g. an object without a usable id).
    """
    # Objects too deep to encode cannot be written back: left out, as they were skipped.
    too_deep = set(np.flatnonzero(object_problems(pools_snapshot).eq("too_deep").fillna(False)))
    pools_snapshot = [o for i, o in enumerate(pools_snapshot) if i not in too_deep]
    predictions = dict(zip(scored["pool"], contract_records(scored), strict=True))
    values = scored[feature_list].astype(object).where(scored[feature_list].notna(), None)
    features = dict(zip(scored["pool"], values.to_dict(orient="records"), strict=True))
    empty = dict.fromkeys(CONTRACT_FIELDS)
    enriched = []
    for item in pools_snapshot:
        if not (isinstance(item, dict) and isinstance(item.get("pool"), str)):
            continue
        # Scored ids are stripped (as training's cleaning strips them); the object keeps its own.
        pool = item["pool"].strip()
        enriched.append(
            {**item, "predictions": predictions.get(pool, empty), "features": features.get(pool)}
        )
    return enriched, {run_timestamp.strftime(params["partition_format"]): enriched}


def commit_feature_state(
    feature_state_advanced: pd.DataFrame,
    hourly_predictions: dict[str, Any],
    dataEnriched_hourly: dict[str, Any],
    run_timestamp: pd.Timestamp,
    params: dict[str, Any],
) -> tuple[pd.DataFrame, str]:
    """The advanced state to store, once this run's hourly outputs are stored whole.

    The state is written last: a run killed before it leaves the previous state, so its retry
    is not refused as stale and redoes the hour; the outputs it rewrites are the same.
    """
    key = run_timestamp.strftime(params["partition_format"])
    stored = {"hourly_predictions": hourly_predictions, "dataEnriched_hourly": dataEnriched_hourly}
    missing = [name for name, partitions in stored.items() if key not in partitions]
    if missing:
        raise RuntimeError(f"run {key}: {', '.join(missing)} not stored; the state is not advanced")
    return feature_state_advanced, key


def publish_latest(
    enriched: list[dict[str, Any]],
    market_context_run: dict[str, Any],
    market_context: dict[str, Any],
    committed: str,
    feature_state_stored: pd.DataFrame,
    run_timestamp: pd.Timestamp,
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, np.ndarray]]:
    """The run's latest copies (dataEnriched_latest, the market, the API's state), after its state.

    Published only while the stored state is still no later than this run's commit: a later
    run that committed meanwhile owns the latest copies (this run then ends as stale). A run
    that observed no pool of the market has no market to store: the previous one stays.
    """
    if state.stale_pools(feature_state_stored, run_timestamp).any():
        raise StaleRunError(
            f"run {committed}: a later run committed while this one was publishing; its latest"
            " copies stay (this run's hourly outputs and state commit are kept)"
        )
    if not market_context_run["apy"]:
        logger.warning("Run %s observed no pool of the market: the stored market stays", committed)
        market_context_run = market_context
    logger.info("Run %s committed: publishing the latest snapshot and market", committed)
    return enriched, market_context_run, state.to_arrays(feature_state_stored)


def summarise_run(
    scored: pd.DataFrame, snapshot_report: dict[str, Any], run_timestamp: pd.Timestamp
) -> dict[str, Any]:
    """Counts of the run: snapshot objects, skipped, pools scored and nulled."""
    served = scored["served"]
    return {
        "run_timestamp": run_timestamp.isoformat(),
        **snapshot_report,
        "pools_scored": int(served.sum()),
        "pools_nulled": int((~served).sum()),
    }
