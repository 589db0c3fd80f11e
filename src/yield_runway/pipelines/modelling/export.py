"""The release node: served models to ONNX, checked against scikit-learn on the holdout."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from yield_runway.models.calibration import CalibratedModel
from yield_runway.models.onnx_export import export_model, parity
from yield_runway.models.splits import holdout_rows
from yield_runway.serving.release import HISTORY, TABLES, json_bytes
from yield_runway.serving.scorer import OnnxScorer

logger = logging.getLogger(__name__)


def build_model_release(
    champion_model: CalibratedModel,
    legacy_model: CalibratedModel,
    champion: str,
    legacy: str,
    feature_list: list[str],
    categorical_mapping: dict[str, Any],
    observation_limits: dict[str, float],
    market_universe: list[str],
    model_input_table: pd.DataFrame,
    evaluation_splits: dict[str, Any],
    history_summary: dict[str, Any],
    serving_parameters: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    """The release's files and model specs; fails naming a model whose ONNX scores differ."""
    holdout = holdout_rows(model_input_table, evaluation_splits)
    tolerance = params["parity_tolerance"]
    if len(holdout) < params["min_parity_rows"]:
        raise ValueError(
            f"The holdout has {len(holdout)} rows: too few (< release.min_parity_rows = "
            f"{params['min_parity_rows']}) to check the ONNX export against scikit-learn"
        )
    # A few holdout rows and their scores travel with each model: a reader refuses a graph
    # that does not score them so (a swapped output, junk parameters, NaN).
    probe = holdout.sample(min(len(holdout), params["check_rows"]), random_state=0)
    files, models = {}, {}
    for key, model, name in (
        ("champion_model", champion_model, champion),
        ("legacy_model", legacy_model, legacy),
    ):
        graph, spec = export_model(model, name)
        gap = parity(model, OnnxScorer(graph, spec), holdout, tolerance)
        logger.info("ONNX %s (%s): max |dP| %.2g on %d holdout rows", key, name, gap, len(holdout))
        files[f"{key}.onnx"] = graph
        rows = probe[spec["features"]].astype(float)
        check = {
            "rows": rows.astype(object).where(rows.notna(), None).to_numpy().tolist(),
            "p_stable_up": model.predict_proba(probe)[:, 1].tolist(),
            "tolerance": tolerance,
        }
        models[key] = {**spec, "file": f"{key}.onnx", "parity_max_abs_diff": gap, "check": check}
    tables = {
        "feature_list": feature_list,
        "categorical_mapping": categorical_mapping,
        "observation_limits": observation_limits,
        "market_universe": market_universe,
        "serving_parameters": serving_parameters,
    }
    files.update({TABLES[key]: json_bytes(value) for key, value in tables.items()})
    # Each pool's last day, for the next training's gate; the manifest keeps the totals only
    # (the API reads it every minute).
    files[HISTORY] = json_bytes(history_summary)
    totals = {k: v for k, v in history_summary.items() if k != "pool_last_dates"}
    return {
        "files": files,
        "models": models,
        "parity": {"rows": int(len(holdout)), "tolerance": tolerance},
        "history": totals,
    }
