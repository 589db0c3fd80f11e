"""The monitoring pipeline: feature drift, realised performance of served predictions, alerts."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
