"""A CSV file (local, s3://, any fsspec URL; gzip by extension) read lazily as Arrow batches."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from kedro.io.core import (
    AbstractDataset,
    DatasetError,
    get_filepath_str,
    get_protocol_and_path,
)


class CSVBatches:
    """A re-iterable view of a CSV file: each iteration opens it and yields RecordBatches.

    Nothing is read until iterated, so a node can stream a file far larger than memory; every
    iteration starts from the first row again (a node may make a second pass).
    """

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        path: str,
        compression: str | None,
        read_options: pacsv.ReadOptions,
        convert_options: pacsv.ConvertOptions,
    ) -> None:
        self._fs = fs
        self._path = path
        self._compression = compression
        self._read_options = read_options
        self._convert_options = convert_options

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        # Arrow parses the next block in a thread (it releases the GIL) while the consumer works
        # on this one: reading overlaps processing, and at most two batches are in memory.
        done = object()
        ready: queue.Queue = queue.Queue(maxsize=1)
        stop = threading.Event()

        def produce() -> None:
            try:
                with self._fs.open(self._path, mode="rb", compression=self._compression) as stream:
                    reader = pacsv.open_csv(
                        stream,
                        read_options=self._read_options,
                        convert_options=self._convert_options,
                    )
                    for batch in reader:
                        if stop.is_set():
                            return
                        ready.put(batch)
                ready.put(done)
            except BaseException as error:  # re-raised in the consumer
                ready.put(error)

        thread = threading.Thread(target=produce, name="csv-batches", daemon=True)
        thread.start()
        try:
            while (item := ready.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():  # unblock a producer waiting on a full queue
                with contextlib.suppress(queue.Empty):
                    ready.get(timeout=0.05)

    def to_pandas(self) -> pd.DataFrame:
        """The whole file as one frame: for small files and tests only."""
        batches = list(self)
        if not batches:
            return pd.DataFrame()
        return pa.Table.from_batches(batches).to_pandas()


class CSVBatchesDataset(AbstractDataset[pd.DataFrame, CSVBatches]):
    """Loads a CSV as a lazy `CSVBatches`; saves a pandas DataFrame as CSV.

    load_args:
        block_size: bytes of CSV text per batch (bounds the memory of one batch).
        column_types: {column: arrow type name}; unlisted columns are inferred. "string" reads
            the text as is, so that validation (a node) decides what is a number.
        null_values: texts read as null (default: only the empty field).
    save_args: passed to `pandas.DataFrame.to_csv` (index is False unless given).
    """

    DEFAULT_LOAD_ARGS: dict[str, Any] = {"block_size": 1 << 24, "null_values": [""]}
    DEFAULT_SAVE_ARGS: dict[str, Any] = {"index": False}

    def __init__(
        self,
        *,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._filepath = PurePosixPath(path)
        fs_args = dict(fs_args or {})
        if protocol == "file":
            fs_args.setdefault("auto_mkdir", True)
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **fs_args)
        self._load_args = {**self.DEFAULT_LOAD_ARGS, **(load_args or {})}
        self._save_args = {**self.DEFAULT_SAVE_ARGS, **(save_args or {})}
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath,
            "protocol": self._protocol,
            "load_args": self._load_args,
            "save_args": self._save_args,
        }

    def load(self) -> CSVBatches:
        path = get_filepath_str(self._filepath, self._protocol)
        if not self._fs.exists(path):
            raise DatasetError(f"No CSV at {self._protocol}://{self._filepath}")
        args = deepcopy(self._load_args)
        types = {name: pa.type_for_alias(t) for name, t in args.get("column_types", {}).items()}
        convert = pacsv.ConvertOptions(
            column_types=types,
            null_values=list(args["null_values"]),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
        read = pacsv.ReadOptions(block_size=int(args["block_size"]))
        return CSVBatches(self._fs, path, "infer", read, convert)

    def save(self, data: pd.DataFrame) -> None:
        path = get_filepath_str(self._filepath, self._protocol)
        with self._fs.open(path, mode="w", compression="infer") as handle:
            data.to_csv(handle, **self._save_args)

    def _exists(self) -> bool:
        return self._fs.exists(get_filepath_str(self._filepath, self._protocol))
