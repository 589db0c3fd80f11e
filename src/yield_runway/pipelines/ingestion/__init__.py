"""Ingestion pipeline: pull the live DefiLlama yields API into the training raw format."""

from yield_runway.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
