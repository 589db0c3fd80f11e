"""Whole-or-nothing saves: a killed run leaves the previous file, never a partial one.

Locally a file is written beside its target under a temporary name, flushed to disk and renamed
over the target (a rename within one filesystem is atomic). Temporary files that a killed save
left behind are removed by the next save of the same target. On an object store one PUT replaces
an object whole (S3 serves the old object until the upload completes), so saves go straight
through.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import uuid
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, get_protocol_and_path, parse_dataset_definition

TEMPORARY_SUFFIX = ".tmp"


def temporary_path(target: str) -> str:
    """A fresh temporary name beside `target`: hidden, and not ending in the target's suffix."""
    directory, name = os.path.split(target)
    return os.path.join(directory, f".{name}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}")


def remove_orphans(target: str) -> list[str]:
    """Remove the temporary files killed saves of `target` left behind; return their paths.

    Call it holding `file_lock(target)`: every save of the target holds that lock while its
    temporary file exists, so any such file found then is an orphan.
    """
    directory, name = os.path.split(target)
    folder = Path(directory or ".")
    if not folder.is_dir():
        return []
    own = re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{32}}{re.escape(TEMPORARY_SUFFIX)}")
    orphans = [str(p) for p in folder.iterdir() if own.fullmatch(p.name) and p.is_file()]
    for path in orphans:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    return orphans


def replace_file(temporary: str, target: str) -> None:
    """Flush a written temporary file to disk, rename it over its target, flush the rename."""
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    # The rename itself is durable only once the directory is flushed (power loss, not kills).
    directory = os.open(os.path.dirname(target) or ".", os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@contextlib.contextmanager
def replacing(target: str, locked: bool = False) -> Iterator[str]:
    """A temporary path to write, renamed over `target` if the block ends without an error.

    Holds the target's lock throughout (unless the caller already does), so that two saves of
    one target never see each other's temporary file as an orphan.
    """
    target = os.path.realpath(target)  # a symlinked target keeps its link
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with contextlib.nullcontext() if locked else file_lock(target):
        remove_orphans(target)
        temporary = temporary_path(target)
        try:
            yield temporary
            replace_file(temporary, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary)


def write_bytes(target: str, payload: bytes, locked: bool = False) -> None:
    """Replace a local file by `payload` whole, cleaning up what killed writes left behind."""
    with replacing(target, locked) as temporary, open(temporary, "wb") as handle:
        handle.write(payload)


@contextlib.contextmanager
def file_lock(target: str) -> Iterator[None]:
    """An exclusive lock on a target's lock file; the kernel releases it if the process dies."""
    directory, name = os.path.split(os.path.realpath(target))
    os.makedirs(directory or ".", exist_ok=True)
    with open(os.path.join(directory, f".{name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class AtomicDataset(AbstractDataset[Any, Any]):
    """A file dataset (`dataset`: its type and options), saved whole or not at all.

    The wrapped dataset writes a temporary name ending in `.tmp`: a format it infers from the
    file name (compression from `.gz`, say) must be set in its options instead. The catalog wraps
    JSON and Parquet, which infer nothing.
    """

    def __init__(self, *, filepath: str, dataset: str | dict[str, Any], **kwargs: Any) -> None:
        config = {"type": dataset} if isinstance(dataset, str) else deepcopy(dataset)
        self._type, self._options = parse_dataset_definition({**config, **kwargs})
        self._filepath = filepath
        self._protocol, self._path = get_protocol_and_path(filepath)
        self._target = self._type(filepath=filepath, **self._options)

    def load(self) -> Any:
        """Load through the wrapped dataset."""
        return self._target.load()

    def save(self, data: Any) -> None:
        """Save to a temporary file beside the target, then rename it over the target."""
        if self._protocol != "file":
            self._target.save(data)
            return
        with replacing(self._path) as temporary:
            self._type(filepath=temporary, **self._options).save(data)

    def _exists(self) -> bool:
        return self._target.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "dataset": self._type.__name__}
