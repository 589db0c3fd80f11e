"""Custom Kedro datasets of the project."""

from yield_runway.datasets.atomic import AtomicDataset
from yield_runway.datasets.release import ModelReleaseDataset

__all__ = ["AtomicDataset", "ModelReleaseDataset"]
