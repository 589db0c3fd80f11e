"""Backward-looking features per pool-day and the categorical codes saved for serving."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
