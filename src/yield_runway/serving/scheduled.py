"""The hourly EventBridge run: the packaged `inference` pipeline through a KedroSession."""

from __future__ import annotations

import logging
import time
from typing import Any

from .config import ServingConfig

logger = logging.getLogger(__name__)


def is_scheduled_event(event: dict[str, Any]) -> bool:
    """An EventBridge (CloudWatch Events) scheduled event."""
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def run_inference(event: dict[str, Any], config: ServingConfig) -> dict[str, Any]:
    """Run `inference` for the event's scheduled time; return the run's summary."""
    from kedro.framework.project import configure_project
    from kedro.framework.session import KedroSession

    started = time.perf_counter()
    configure_project("yield_runway")
    # The scheduled time, not "now": a retried event rewrites the same hourly partition.
    runtime_params = {"inference_run_timestamp": event.get("time")}
    with KedroSession.create(
        project_path=config.project_path,
        conf_source=config.conf_source,
        env=config.kedro_env,
        runtime_params=runtime_params,
    ) as session:
        outputs = session.run(pipeline_names=["inference"])
    summary = dict(outputs["inference_summary"].load())
    summary["seconds"] = round(time.perf_counter() - started, 3)
    logger.info("Scheduled inference done: %s", summary)
    return summary
