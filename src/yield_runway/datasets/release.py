"""A Kedro dataset for the model release: saved file by file, the manifest last; loaded verified."""

from __future__ import annotations

import json
import logging
from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import (
    AbstractDataset,
    generate_timestamp,
    get_filepath_str,
    get_protocol_and_path,
)

from yield_runway.datasets.atomic import write_bytes
from yield_runway.serving.release import (
    HISTORY,
    MANIFEST,
    Release,
    ReleaseError,
    build_manifest,
    current_version,
    json_bytes,
    read_release,
)

logger = logging.getLogger(__name__)


class ModelReleaseDataset(AbstractDataset[dict[str, Any], Release]):
    """A release under `path`: save takes the files and model specs, load returns a Release.

    A save writes a new `<path>/<version>/` and then puts its manifest in service, so a killed
    save leaves the previous release in service (and a folder that no manifest names).
    """

    def __init__(
        self,
        *,
        path: str,
        n_jobs: int | None = 1,
        fs_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, root = get_protocol_and_path(path)
        self._uri = path.rstrip("/")
        self._protocol = protocol
        self._root = get_filepath_str(PurePosixPath(root), protocol).rstrip("/")
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **(fs_args or {}))
        self._n_jobs = n_jobs
        self.metadata = metadata

    def _write(self, path: str, payload: bytes) -> None:
        """One file whole: temp + rename locally, one PUT on an object store."""
        if self._protocol == "file":
            write_bytes(path, payload)
        else:
            self._fs.pipe_file(path, payload)

    def save(self, data: dict[str, Any]) -> None:
        """Write `data["files"]` (name -> bytes) as a new version, then its manifest in service."""
        version = generate_timestamp()
        extra = {k: v for k, v in data.items() if k not in ("files", "models")}
        manifest = json_bytes(build_manifest(version, data["files"], data["models"], **extra))
        for name, payload in data["files"].items():
            self._write(f"{self._root}/{version}/{name}", payload)
        self._write(f"{self._root}/{version}/{MANIFEST}", manifest)
        self._write(f"{self._root}/{MANIFEST}", manifest)

    def load(self) -> Release:
        """The release in service, every file checked against the manifest's SHA-256."""
        return read_release(self._fs, self._root, self._n_jobs)

    def _exists(self) -> bool:
        return self._fs.exists(f"{self._root}/{MANIFEST}")

    def _describe(self) -> dict[str, Any]:
        return {"path": self._uri, "n_jobs": self._n_jobs}


class TrainedHistoryDataset(AbstractDataset[None, dict[str, Any]]):
    """The `history` summary of the release in service under `path`; {} when there is none."""

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None) -> None:
        protocol, root = get_protocol_and_path(path)
        self._uri = path.rstrip("/")
        self._root = get_filepath_str(PurePosixPath(root), protocol).rstrip("/")
        self._path = f"{self._root}/{MANIFEST}"
        self._fs = fsspec.filesystem(protocol)
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        """Each pool's last day in the history the model in service was trained on ({} when
        there is none or it cannot be read)."""
        if not self._fs.exists(self._path):
            return {}  # a first training
        try:
            version = current_version(self._fs, self._root)
            history = json.loads(self._fs.cat_file(f"{self._root}/{version}/{HISTORY}"))
            return {
                "pool_last_dates": {str(k): str(v) for k, v in history["pool_last_dates"].items()}
            }
        except (ReleaseError, OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            # A broken manifest must not block the retraining that replaces it.
            logger.warning(
                "%s holds no readable history (%s): the history is not compared",
                self._uri,
                str(error)[:200],
            )
            return {}

    def save(self, data: None) -> None:
        raise NotImplementedError("trained_history is read from the release: it is not saved")

    def _describe(self) -> dict[str, Any]:
        return {"path": self._uri}
