"""Targets, purged time-series evaluation, champion calibration and refit, serving artefacts."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
