"""Hourly inference: snapshot + per-pool feature state + champion -> predictions + new state."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
