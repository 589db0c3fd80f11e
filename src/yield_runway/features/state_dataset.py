"""A Kedro dataset for the feature state: Parquet, replaced atomically on save."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import PurePosixPath
from typing import Any

import fsspec
import pandas as pd
from kedro.io.core import AbstractDataset, DatasetError, get_filepath_str, get_protocol_and_path


class FeatureStateDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """Parquet on a local path or an object store; a reader sees the old state or the new one."""

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
        self._protocol = protocol
        self._path = get_filepath_str(PurePosixPath(path), protocol)
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **(fs_args or {}))
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        """Read the state; a missing state names the run that creates it."""
        if not self._fs.exists(self._path):
            raise DatasetError(
                f"No feature state at {self._filepath}: `kedro run --pipeline=training` "
                "builds it (node build_feature_state)."
            )
        with self._fs.open(self._path, "rb") as handle:
            return pd.read_parquet(handle)

    def save(self, data: pd.DataFrame) -> None:
        """Serialise in memory, then replace the stored state in one step."""
        buffer = io.BytesIO()
        data.to_parquet(buffer, index=False)
        payload = buffer.getvalue()
        if self._protocol == "file":
            # Write a temporary file next to the target and rename it over the target: a rename
            # within one filesystem is atomic, so a crash leaves the previous state intact.
            directory = os.path.dirname(self._path) or "."
            os.makedirs(directory, exist_ok=True)
            temporary = os.path.join(
                directory, f".{os.path.basename(self._path)}.{uuid.uuid4().hex}"
            )
            try:
                with open(temporary, "wb") as handle:
                    handle.write(payload)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self._path)
            finally:
                if os.path.exists(temporary):
                    os.remove(temporary)
        else:
            # An object store replaces an object in one request: S3 serves the previous object
            # until a PUT (or a multipart upload, on completion) succeeds, never a partial one,
            # so there is no temporary key to rename and nothing half-written to clean up.
            self._fs.pipe_file(self._path, payload)
        self._fs.invalidate_cache(self._path)

    def _exists(self) -> bool:
        return bool(self._fs.exists(self._path))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol}
