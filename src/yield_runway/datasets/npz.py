"""A Kedro dataset of named NumPy arrays in one `.npz` file, read without pickle."""

from __future__ import annotations

import io
from pathlib import PurePosixPath
from typing import Any

import fsspec
import numpy as np
from kedro.io.core import AbstractDataset, get_filepath_str, get_protocol_and_path


class NpzDataset(AbstractDataset[dict[str, np.ndarray], dict[str, np.ndarray]]):
    """Arrays by name, compressed; object arrays are refused both ways (they need pickle)."""

    def __init__(
        self,
        *,
        filepath: str,
        fs_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath)
        self._filepath = filepath
        self._path = get_filepath_str(PurePosixPath(path), protocol)
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **(fs_args or {}))
        self.metadata = metadata

    def load(self) -> dict[str, np.ndarray]:
        """Every array of the file."""
        with self._fs.open(self._path, "rb") as handle, np.load(handle, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}

    def save(self, data: dict[str, np.ndarray]) -> None:
        """Write the arrays in one piece."""
        objects = [name for name, array in data.items() if np.asarray(array).dtype == object]
        if objects:
            raise ValueError(f"object arrays cannot be stored without pickle: {objects}")
        buffer = io.BytesIO()
        np.savez_compressed(buffer, allow_pickle=False, **data)
        self._fs.mkdirs(self._fs._parent(self._path), exist_ok=True)
        self._fs.pipe_file(self._path, buffer.getvalue())

    def _exists(self) -> bool:
        return bool(self._fs.exists(self._path))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath}
