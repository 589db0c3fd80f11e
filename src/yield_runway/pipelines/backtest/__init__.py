"""The backtest pipeline: does money that follows the runway signal earn more, after costs."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
