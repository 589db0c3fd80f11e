"""A Kedro dataset for the feature state: Parquet, replaced atomically, and only if unchanged.

The state is read at the start of an hourly run and written at its end. Two runs at once would
both read the same state and the later write would drop the other's update, so a save is a
compare-and-swap: the loaded state carries its version (`attrs["version"]`: the S3 ETag, or the
local file's identity), and the save replaces the stored state only while it is still that
version (a conditional PUT with If-Match on S3; a check under a file lock locally). Otherwise it
raises StateConflictError and writes nothing: the run fails, and its retry starts from the
newer state. A state without a version (a fresh one, built by training) replaces any other.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import PurePosixPath
from typing import Any

import fsspec
import pandas as pd
from kedro.io.core import AbstractDataset, DatasetError, get_filepath_str, get_protocol_and_path

from yield_runway.datasets.atomic import file_lock, write_bytes

VERSION = "version"


class StateConflictError(DatasetError):
    """The stored state changed since this run read it: another run committed first."""


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
        """Read the state and its version; a missing state names the run that creates it."""
        if not self._fs.exists(self._path):
            raise DatasetError(
                f"No feature state at {self._filepath}: `kedro run --pipeline=training` "
                "builds it (node build_feature_state)."
            )
        if self._protocol == "file":
            # The identity of the open file is that of the bytes read, even if a rename
            # replaces the path meanwhile (the open file keeps its inode).
            with open(self._path, "rb") as handle:
                version, payload = _identity(os.fstat(handle.fileno())), handle.read()
        else:
            with self._fs.open(self._path, "rb") as handle:
                version, payload = str(handle.details["ETag"]), handle.read()
        state = pd.read_parquet(io.BytesIO(payload))
        state.attrs[VERSION] = version
        return state

    def save(self, data: pd.DataFrame) -> None:
        """Serialise in memory, then replace the stored state in one step, if unchanged."""
        buffer = io.BytesIO()
        data.to_parquet(buffer, index=False)
        payload = buffer.getvalue()
        expected = data.attrs.get(VERSION)
        if VERSION in data.attrs and not expected:
            # Read, but with no version to compare: an unconditional write could lose a commit.
            raise DatasetError(
                f"The feature state for {self._filepath} was read without a version (no ETag):"
                " refusing to replace it unconditionally"
            )
        if self._protocol == "file":
            with file_lock(self._path):
                if expected is not None and _local_version(self._path) != expected:
                    raise self._conflict()
                write_bytes(self._path, payload, locked=True)
        else:
            # One PUT replaces the object whole; If-Match makes it conditional on the version
            # read, so of two runs at once the second fails instead of losing the first's update.
            condition = {"IfMatch": expected} if expected is not None else {}
            try:
                # One PUT whatever the size: a multipart upload would drop the If-Match.
                chunk = max(len(payload), 5 * 2**20)
                self._fs.pipe_file(self._path, payload, chunksize=chunk, **condition)
            except OSError as error:
                if not _precondition_failed(error):
                    raise
                # A PUT that botocore retried after a lost response finds its own first try
                # stored: then the stored object is this payload (a single PUT's ETag is its MD5).
                if self._stored_etag() != hashlib.md5(payload).hexdigest():
                    raise self._conflict() from error
        self._fs.invalidate_cache(self._path)

    def _stored_etag(self) -> str | None:
        """The stored object's ETag now, unquoted; None when there is none."""
        try:
            info = self._fs.info(self._path, refresh=True)
        except FileNotFoundError:
            return None
        return str(info.get("ETag", "")).strip('"') or None

    def _conflict(self) -> StateConflictError:
        """The error of a save that found the stored state changed since this run read it."""
        return StateConflictError(
            f"The feature state at {self._filepath} changed since this run read it (another "
            "run committed first): nothing was written; a retry starts from the newer state."
        )

    def _exists(self) -> bool:
        return bool(self._fs.exists(self._path))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol}


def _identity(stat: os.stat_result) -> str:
    """A local file's version: a save renames a new file in, so inode and mtime change."""
    return f"{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}"


def _local_version(path: str) -> str | None:
    """The version of the local file at `path` now; None when there is none."""
    try:
        return _identity(os.stat(path))
    except FileNotFoundError:
        return None


def _precondition_failed(error: BaseException) -> bool:
    """True when S3 refused a conditional write (s3fs wraps botocore's error in an OSError)."""
    while error is not None:
        code = getattr(error, "response", {}).get("Error", {}).get("Code")
        # 409: another conditional write to the object was in progress; it may have won.
        if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
            return True
        error = error.__cause__ or error.__context__
    return False
