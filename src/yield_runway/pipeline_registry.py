"""Project pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from yield_runway.pipelines import (
    backtest,
    data_engineering,
    feature_engineering,
    inference,
    ingestion,
    modelling,
    monitoring,
)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines; `__default__` is training, never the sum of all."""
    de = data_engineering.create_pipeline()
    fe = feature_engineering.create_pipeline()
    ds = modelling.create_pipeline()
    training = de + fe + ds
    return {
        "data_engineering": de,
        "feature_engineering": fe,
        "modelling": ds,
        "training": training,
        "ingestion": ingestion.create_pipeline(),
        "inference": inference.create_pipeline(),
        "monitoring": monitoring.create_pipeline(),
        # After training, on its out-of-time scores; in neither `training` nor `__default__`.
        "backtest": backtest.create_pipeline(),
        "__default__": training,
    }
