"""The hourly EventBridge run: the packaged `inference` pipeline, then `monitoring`."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from .config import ServingConfig

logger = logging.getLogger(__name__)

# conf/aws/catalog.yml builds every S3 path of the hourly run from these.
AWS_ENV_VARIABLES = ("YIELD_RUNWAY_BUCKET", "YIELD_RUNWAY_PREFIX")


def is_scheduled_event(event: dict[str, Any]) -> bool:
    """An EventBridge (CloudWatch Events) scheduled event."""
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def _session(config: ServingConfig, runtime_params: dict[str, Any] | None = None):
    """A KedroSession on the packaged project and conf (one run per session)."""
    from kedro.framework.project import configure_project
    from kedro.framework.session import KedroSession

    configure_project("yield_runway")
    return KedroSession.create(
        project_path=config.project_path,
        conf_source=config.conf_source,
        env=config.kedro_env,
        runtime_params=runtime_params,
    )


def check_environment(config: ServingConfig) -> None:
    """Fail with the missing variables' names, not deep in the conf, when S3 is not configured."""
    missing = [name for name in AWS_ENV_VARIABLES if not os.environ.get(name)]
    if config.kedro_env == "aws" and missing:
        raise RuntimeError(
            f"The scheduled run reads and writes S3 (Kedro env 'aws'): set {', '.join(missing)}"
        )


def run_inference(event: dict[str, Any], config: ServingConfig) -> dict[str, Any]:
    """Run `inference` for the event's scheduled time; return the run's summary."""
    check_environment(config)
    started = time.perf_counter()
    # The scheduled time, not "now": a retried event rewrites the same hourly partition.
    with _session(config, {"inference_run_timestamp": event.get("time")}) as session:
        outputs = session.run(pipeline_names=["inference"])
    summary = dict(outputs["inference_summary"].load())
    summary["seconds"] = round(time.perf_counter() - started, 3)
    logger.info("Scheduled inference done: %s", summary)
    return summary


def run_monitoring(config: ServingConfig) -> dict[str, Any]:
    """Run `monitoring` on the stored runs; a failure is logged and reported, never raised."""
    started = time.perf_counter()
    try:
        with _session(config) as session:
            session.run(pipeline_names=["monitoring"])
            catalog = session.load_context().catalog
            drift = catalog.load("monitoring_drift_summary")
            realised = catalog.load("monitoring_realised_summary")
            alerts = catalog.load("monitoring_alerts")
    except Exception:
        # Predictions are already written: a monitoring problem must not fail (and retry) them.
        logger.exception("Scheduled monitoring failed")
        return {"status": "failed", "seconds": round(time.perf_counter() - started, 3)}
    summary = {
        "status": "ok",
        "drift_flagged": bool(drift.get("drift_flagged")),
        "decay_flagged": bool(realised.get("decay_flagged")),
        "alert": alerts.get("status"),
        "seconds": round(time.perf_counter() - started, 3),
    }
    logger.info("Scheduled monitoring done: %s", summary)
    return summary


def run_scheduled(event: dict[str, Any], config: ServingConfig) -> dict[str, Any]:
    """The hourly job: inference (failures propagate), then monitoring (failures are reported)."""
    from yield_runway.features.state import StaleRunError

    try:
        summary = run_inference(event, config)
    except StaleRunError as error:
        # A late or repeated event: newer outputs exist, so there is nothing to do or retry.
        logger.warning("Scheduled run for %s skipped: %s", event.get("time"), error)
        return {"run_timestamp": event.get("time"), "status": "skipped_stale", "reason": str(error)}
    summary["monitoring"] = run_monitoring(config)
    return summary
