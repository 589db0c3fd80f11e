"""A schedule event sent to a package without Kedro (the API's zip) fails naming the image."""

from __future__ import annotations

import importlib.util

import pytest

from tests.serving.events import Context, schedule_event
from yield_runway.serving import lambda_handler


def test_a_schedule_without_kedro_names_the_image_function(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "kedro" else find_spec(name, *a),
    )
    monkeypatch.setattr(lambda_handler, "run_scheduled", lambda *a: pytest.fail("ran Kedro"))
    with pytest.raises(RuntimeError, match="container image's function .`hourly`"):
        lambda_handler.handler(schedule_event("2025-11-01T01:00:00Z"), Context())
