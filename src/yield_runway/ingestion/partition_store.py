"""A partitioned dataset whose loaded value is a store that writes one partition at a time.

Why: Kedro saves a node's outputs only when the node returns, so a plain
``partitions.PartitionedDataset`` output would lose every chart fetched before an interrupt.
Instead the catalog entry is a node *input*; loading it yields a ``PartitionStore`` handle
through which the node saves each pool's partition the moment that pool is fetched, using the
very ``PartitionedDataset`` (path, filesystem, credentials, partition dataset) the catalog
configures. Resuming is then just "which partitions exist already".
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from kedro.io import AbstractDataset, DatasetError
from kedro_datasets.partitions import PartitionedDataset


class PartitionStore:
    """Read and write individual partitions of a ``PartitionedDataset`` by id.

    Partition ids are percent-encoded so an id can never add directories or escape the path.
    Not thread-safe: call it from one thread (the fetcher writes from its main thread).
    """

    def __init__(self, partitioned: PartitionedDataset) -> None:
        self._partitioned = partitioned

    @staticmethod
    def _encode(key: str) -> str:
        return quote(key, safe="")

    def _loaders(self) -> dict[str, Any]:
        try:
            return self._partitioned.load()
        except DatasetError as exc:
            # PartitionedDataset refuses to load an empty folder; for a store that is just
            # "nothing fetched yet".
            if "No partitions found" in str(exc):
                return {}
            raise

    def keys(self) -> set[str]:
        """Ids of the partitions present now."""
        return {unquote(partition_id) for partition_id in self._loaders()}

    def load_all(self) -> dict[str, Any]:
        """Lazy loaders of every present partition, by id."""
        return {unquote(pid): loader for pid, loader in self._loaders().items()}

    def save(self, key: str, data: Any) -> None:
        """Write one partition now, leaving all other partitions in place."""
        # overwrite=False (enforced by the dataset below) makes PartitionedDataset.save
        # write only the partitions it is given.
        self._partitioned.save({self._encode(key): data})


class ResumablePartitionsDataset(AbstractDataset[None, PartitionStore]):
    """Catalog entry for a per-key partition folder that a node fills incrementally.

    Takes the ``partitions.PartitionedDataset`` arguments (``path``, ``dataset``,
    ``filename_suffix``, ``credentials``, ``fs_args``...); ``load`` returns a
    ``PartitionStore``. Saving through the catalog is refused: partitions are written through
    the store as they are produced.
    """

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("overwrite"):
            raise DatasetError("ResumablePartitionsDataset never overwrites: it exists to resume")
        self._kwargs = kwargs
        self._partitioned = PartitionedDataset(**kwargs)

    def load(self) -> PartitionStore:
        return PartitionStore(self._partitioned)

    def save(self, data: None) -> None:
        raise DatasetError(
            "ResumablePartitionsDataset is written partition by partition through the "
            "PartitionStore returned by load(), not saved as a node output"
        )

    def _describe(self) -> dict[str, Any]:
        return self._partitioned._describe()

    def _exists(self) -> bool:
        return self._partitioned.exists()
