"""Validate, clean and reduce the raw hourly pool history to a daily grid per pool."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
