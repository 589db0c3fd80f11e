"""Custom Kedro datasets of the project."""

from yield_runway.datasets.csv_batches import CSVBatches, CSVBatchesDataset

__all__ = ["CSVBatches", "CSVBatchesDataset"]
