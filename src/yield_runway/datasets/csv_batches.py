"""A CSV file (local, s3://, any fsspec URL; gzip by extension) read lazily as Arrow batches."""

from __future__ import annotations

import gzip
import mmap
import os
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any, BinaryIO

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from fsspec.implementations.local import LocalFileSystem
from fsspec.utils import infer_compression
from kedro.io.core import (
    AbstractDataset,
    DatasetError,
    get_filepath_str,
    get_protocol_and_path,
)

from yield_runway.datasets import atomic

# Malformed rows kept for the report (all are counted).
MAX_MALFORMED_LISTED = 20


class RawFileError(ValueError):
    """A raw file cannot be read; the message names the file and the problem."""


# A DefiLlama pools.csv row is 110 to 130 bytes: an estimate of the rows of a file, to size
# buffers (a wrong one costs some memory or a resize, never a result).
_BYTES_PER_ROW = 110


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
        threads: int = 2,
        number_columns: tuple[str, ...] = (),
    ) -> None:
        self._fs = fs
        self._path = path
        self._compression = compression
        self._read_options = read_options
        self._convert_options = convert_options
        self._threads = max(1, threads)
        self._number_columns = tuple(number_columns)
        # Of the last iteration: rows with the wrong number of fields (skipped), as
        # (block, line in block, problem, text, file lines lost), and each block's offset.
        self._malformed: list[tuple[int, int, str, str, int]] = []
        self._offsets: list[int] = []

    @property
    def path(self) -> str:
        """The file read."""
        return self._path

    def malformed_rows(self) -> tuple[int, list[dict[str, Any]]]:
        """How many rows the last iteration skipped as malformed, and the first few of them
        (file line, problem, text)."""
        found = sorted(self._malformed)
        listed = found[:MAX_MALFORMED_LISTED]
        before = self._lines_before(sorted({self._offsets[b] for b, *_ in listed}))
        rows = [
            {
                "line": before[self._offsets[b]] + n if n else None,
                "problem": problem,
                "text": text[:200],
            }
            for b, n, problem, text, _ in listed
        ]
        return sum(lost for *_, lost in found), rows

    def _lines_before(self, offsets: list[int]) -> dict[int, int]:
        """The number of line ends before each offset of the file's text (one more read)."""
        counts, seen, position = {}, 0, 0
        remaining = list(offsets)
        with self._fs.open(self._path, mode="rb", compression=self._compression_of()) as stream:
            while remaining:
                chunk = stream.read(1 << 24)
                while remaining and remaining[0] <= position + len(chunk):
                    counts[remaining[0]] = seen + chunk.count(b"\n", 0, remaining[0] - position)
                    remaining.pop(0)
                if not chunk:
                    break
                seen += chunk.count(b"\n")
                position += len(chunk)
        return counts

    @property
    def expected_rows(self) -> int | None:
        """About how many rows the file holds (None if compressed: its size does not say)."""
        if self._compression_of():
            return None
        return int(self._fs.size(self._path)) // _BYTES_PER_ROW

    def _compression_of(self) -> str | None:
        """The file's compression (None for a plain file)."""
        if self._compression == "infer":
            return infer_compression(self._path)
        return self._compression

    @contextmanager
    def _open_blocks(self) -> Iterator[Iterator[pa.Buffer]]:
        """The file's blocks of whole lines: memory-mapped from a plain local file, else read."""
        size = self._read_options.block_size
        compression = self._compression_of()
        if isinstance(self._fs, LocalFileSystem) and not compression:
            # Reading copies every byte twice (kernel to buffer, buffer to block): about 2 ns a
            # byte, a fifth of the parse. A mapped block is parsed where the page cache has it.
            with open(self._path, "rb") as file:
                yield _mapped_line_blocks(file.fileno(), size)
            return
        with self._fs.open(self._path, mode="rb", compression=compression) as stream:
            yield _line_blocks(stream, size)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        """The file's rows as batches, in order; a file that cannot be read names itself."""
        self._malformed, self._offsets = [], []
        try:
            yield from self._batches()
        except (pa.ArrowInvalid, OSError, EOFError, UnicodeDecodeError, zlib.error) as error:
            kind = "not gzip" if isinstance(error, gzip.BadGzipFile) else type(error).__name__
            raise RawFileError(f"{self._path}: cannot be read ({kind}): {error}") from None

    def _blocks_counted(self, blocks: Iterator[pa.Buffer]) -> Iterator[tuple[int, pa.Buffer]]:
        """Each block with its index, recording where in the file's text it starts."""
        offset = 0
        for index, block in enumerate(blocks):
            self._offsets.append(offset)
            offset += block.size
            yield index, block

    def _batches(self) -> Iterator[pa.RecordBatch]:
        # One thread reads blocks of whole lines in order (gzip and S3 streams are sequential);
        # `threads` parse them concurrently (Arrow releases the GIL) while the consumer works on
        # the earlier ones. Batches come in file order; at most threads + 1 blocks are in flight.
        with (
            self._open_blocks() as blocks,
            ThreadPoolExecutor(self._threads, thread_name_prefix="csv-blocks") as pool,
        ):
            numbered = self._blocks_counted(blocks)
            _, head = next(numbered, (0, None))
            if head is None:
                raise pa.ArrowInvalid("the file is empty (no header line)")
            names = _header_names(head, self._read_options)
            configured = self._convert_options.column_types
            pending: deque[Future] = deque()
            if set(names) <= set(configured):
                # Every column's type is configured: no block waits for another's types, and
                # the first is parsed alongside the others.
                first_read = self._first_read_options()
                pending.append(pool.submit(self._parse, head, first_read, self._convert_options, 0))
                schema = pa.schema([(name, configured[name]) for name in names])
            else:
                # The first block fixes the types of columns left to inference for every later
                # block (as Arrow's streaming reader does): a block never re-infers a column.
                first = self._parse(head, self._first_read_options(), self._convert_options, 0)
                yield from _table_batches(first)
                schema = first.schema
            later_read, later_convert = self._later_options(schema)
            for index, block in numbered:
                pending.append(pool.submit(self._parse, block, later_read, later_convert, index))
                if len(pending) > self._threads:
                    yield from _table_batches(pending.popleft().result())
            while pending:
                yield from _table_batches(pending.popleft().result())

    def _parse(
        self, block: pa.Buffer, read: pacsv.ReadOptions, convert: pacsv.ConvertOptions, index: int
    ) -> pa.Table:
        """One block as a table, malformed rows skipped and recorded; number columns as text
        where a value in the block is not one."""
        found: list[tuple[int, int, str, str, int]] = []

        def skip(row: pacsv.InvalidRow) -> str:
            problem = f"expected {row.expected_columns} fields, got {row.actual_columns}"
            spans = row.text.count("\n") + 1
            if spans > 1:  # an unbalanced quote ran on over the next lines: all are lost
                problem += f" (a quoted value over {spans} lines: an unbalanced quote?)"
            found.append((index, 0, problem, row.text, spans))
            return "skip"

        parse = pacsv.ParseOptions(invalid_row_handler=skip)
        try:
            table = pacsv.read_csv(
                pa.BufferReader(block),
                read_options=read,
                parse_options=parse,
                convert_options=convert,
            )
        except pa.ArrowInvalid:
            if not self._number_columns:
                raise
        else:
            table = _drop_spanning_rows(table, index, found)
            self._malformed.extend(_numbered(found, block))
            return table
        found.clear()
        # A value of a number column did not parse: the block is read again with those columns
        # as text, so that validation judges (and counts) each value, as for any text column.
        as_text = deepcopy(convert)
        as_text.column_types = {
            **convert.column_types,
            **dict.fromkeys(self._number_columns, pa.string()),
        }
        table = pacsv.read_csv(
            pa.BufferReader(block), read_options=read, parse_options=parse, convert_options=as_text
        )
        table = _drop_spanning_rows(table, index, found)
        self._malformed.extend(_numbered(found, block))
        return table

    def _first_read_options(self) -> pacsv.ReadOptions:
        """Options for the first block: its header line names the columns.

        Single-threaded, as every block: Arrow numbers a malformed row's line only then.
        """
        first = deepcopy(self._read_options)
        first.use_threads = False
        first.block_size = self._parse_block_size
        return first

    @property
    def _parse_block_size(self) -> int:
        """Arrow's block size for parsing one of our blocks whole, as one batch.

        A block may run past block_size to its last line end.
        """
        return 2 * self._read_options.block_size

    def _later_options(self, schema: pa.Schema) -> tuple[pacsv.ReadOptions, pacsv.ConvertOptions]:
        """Options for blocks after the first: no header line, the first block's types."""
        read = pacsv.ReadOptions(
            block_size=self._parse_block_size,
            use_threads=False,
            column_names=schema.names,
            encoding=self._read_options.encoding,
        )
        convert = deepcopy(self._convert_options)
        # Number columns keep their configured type even where the first block read them as text.
        convert.column_types = {
            **{field.name: field.type for field in schema},
            **{
                n: t
                for n, t in self._convert_options.column_types.items()
                if n in self._number_columns
            },
        }
        return read, convert

    def to_pandas(self) -> pd.DataFrame:
        """The whole file as one frame: for small files and tests only."""
        batches = list(self)
        if not batches:
            return pd.DataFrame()
        # Blocks may differ in number columns (float64, or text where a value is not a number).
        text = {
            n
            for b in batches
            for n in self._number_columns
            if b.schema.field(n).type == pa.string()
        }
        if text:
            batches = [_with_text_columns(b, text) for b in batches]
        return pa.Table.from_batches(batches).to_pandas()


class CSVBatchesDataset(AbstractDataset[pd.DataFrame, CSVBatches]):
    """Loads a CSV as a lazy `CSVBatches`; saves a pandas DataFrame as CSV.

    A plain local file is memory-mapped block by block (no copy before Arrow parses it); any
    other file (compressed, or on S3 or another fsspec filesystem) is read as a stream.

    load_args:
        block_size: bytes of CSV text per batch (bounds the memory of one batch).
        column_types: {column: arrow type name}; unlisted columns are inferred. "string" reads
            the text as is, so that validation (a node) decides what is a number.
        null_values: texts read as null (default: only the empty field).
        read_threads: threads that parse blocks ahead of the consumer (default 2).
        number_columns: columns read as float64 in each block where all their values parse
            (empty: null); a block with a value that does not reads them as text.
        dictionary_columns: text columns read dictionary-encoded (each distinct text once
            per block), for columns with few distinct values.
    save_args: passed to `pandas.DataFrame.to_csv` (index is False unless given).
    """

    DEFAULT_LOAD_ARGS: dict[str, Any] = {
        "block_size": 1 << 24,
        "null_values": [""],
        "read_threads": 2,
    }
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
        numbers = tuple(args.get("number_columns", ()))
        types.update(dict.fromkeys(numbers, pa.float64()))
        codes = pa.dictionary(pa.int32(), pa.string())
        types.update(dict.fromkeys(args.get("dictionary_columns", ()), codes))
        convert = pacsv.ConvertOptions(
            column_types=types,
            null_values=list(args["null_values"]),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
        read = pacsv.ReadOptions(block_size=int(args["block_size"]))
        return CSVBatches(
            self._fs, path, "infer", read, convert, int(args["read_threads"]), numbers
        )

    def save(self, data: pd.DataFrame) -> None:
        """Write the CSV whole: locally beside the target, then renamed over it."""
        path = get_filepath_str(self._filepath, self._protocol)
        if self._protocol != "file":  # one PUT replaces an object whole
            with self._fs.open(path, mode="w", compression="infer") as handle:
                data.to_csv(handle, **self._save_args)
            return
        # The compression is the target's (".gz"), not the temporary name's.
        compression = infer_compression(path)
        with (
            atomic.replacing(path) as temporary,
            fsspec.open(temporary, mode="w", compression=compression) as handle,
        ):
            data.to_csv(handle, **self._save_args)

    def _exists(self) -> bool:
        return self._fs.exists(get_filepath_str(self._filepath, self._protocol))


def _numbered(
    found: list[tuple[int, int, str, str]], block: pa.Buffer
) -> list[tuple[int, int, str, str]]:
    """Malformed rows with their line in the block (1-based), found by their text in order.

    Arrow's own row numbers skip blank lines; the text does not. A match counts only as a whole
    line: from a line start to a line end. Lines are counted from the previous match, so many
    bad rows cost one pass over the block.
    """
    if not found:
        return []
    data, start, line, numbered = block.to_pybytes(), 0, 1, []
    for index, _, problem, text, lost in found:
        needle = text.encode()
        at = data.find(needle, start) if needle else -1
        while at >= 0 and not _whole_line(data, at, len(needle)):
            at = data.find(needle, at + 1)
        if at < 0:  # not found verbatim (a decoding detail, a merged row): line unknown
            numbered.append((index, 0, problem, text, lost))
            continue
        line += data.count(b"\n", start, at)
        numbered.append((index, line, problem, text, lost))
        start = at + len(needle)  # the next bad row is on a later line
    return numbered


def _drop_spanning_rows(
    table: pa.Table, index: int, found: list[tuple[int, int, str, str, int]]
) -> pa.Table:
    """Drop rows holding a line end in a value (rows merged by stray quotes), recorded as lost.

    Line ends always end a row in this format (no value may hold one): such a row is several
    lines that quotes joined into one.
    """
    spanning = None
    for column in table.columns:
        if pa.types.is_dictionary(column.type):
            column = column.combine_chunks()
            inner = pc.match_substring(column.dictionary, "\n")
            if not pc.any(inner).as_py():
                continue
            hit = pc.take(inner, column.indices)
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            hit = pc.match_substring(column, "\n")
        else:
            continue
        hit = pc.fill_null(hit, False)
        spanning = hit if spanning is None else pc.or_(spanning, hit)
    if spanning is None or not pc.any(spanning).as_py():
        return table
    merged = table.filter(spanning).to_pylist()
    for row in merged:
        text = ",".join("" if v is None else str(v) for v in row.values())
        spans = text.count("\n") + 1
        problem = f"a quoted value over {spans} lines joined them into one row: unbalanced quotes?"
        found.append((index, 0, problem, text.replace("\n", "\\n"), spans))
    return table.filter(pc.invert(spanning))


def _whole_line(data: bytes, at: int, size: int) -> bool:
    """Whether data[at:at + size] starts a line and ends one (or the data)."""
    end = at + size
    starts = at == 0 or data[at - 1] == 0x0A
    return starts and (end == len(data) or data[end] in (0x0A, 0x0D))


def _table_batches(table: pa.Table) -> list[pa.RecordBatch]:
    """A block's batches; one empty batch for a block without rows (a file of a header only),
    so that the columns are still seen."""
    return table.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]


def _header_names(block: pa.Buffer, read: pacsv.ReadOptions) -> list[str]:
    """The column names in the header line at the start of a block."""
    data = np.frombuffer(block, dtype=np.uint8)
    line_ends = np.flatnonzero(data[: 1 << 20] == ord("\n"))  # a header is short
    if not len(line_ends):
        line_ends = np.flatnonzero(data == ord("\n"))
    end = int(line_ends[0]) + 1 if len(line_ends) else len(data)
    header = pacsv.ReadOptions(encoding=read.encoding)
    return pacsv.read_csv(pa.BufferReader(block.slice(0, end)), header).column_names


def _line_blocks(stream: BinaryIO, size: int) -> Iterator[pa.Buffer]:
    """Blocks of about `size` bytes of the stream, each ending at a line end (the last at EOF).

    Like Arrow's own reader with `newlines_in_values` off (its default), a line end always ends
    a row: a quoted value may not hold one.
    """
    carry = b""
    while data := stream.read(size):
        data = carry + data if carry else data
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # a line longer than a block: read on
            carry = data
            continue
        carry = data[cut:]
        yield pa.py_buffer(data).slice(0, cut)
    if carry:
        yield pa.py_buffer(carry)


def _mapped_line_blocks(fileno: int, size: int) -> Iterator[pa.Buffer]:
    """Blocks of whole lines of at most `size` bytes (more only for a longer line), each a
    read-only memory map of its part of the file; the last ends at EOF.

    A block's mapping is released with its buffer (once parsed: Arrow copies what it keeps), so
    resident memory stays a few blocks, as when reading. Like any mapping, it assumes the file
    is not truncated while it is read.
    """
    total = os.fstat(fileno).st_size
    start = 0
    while start < total:
        end = min(start + size, total)
        # Mappings start at a multiple of the allocation granularity.
        offset = start - start % mmap.ALLOCATIONGRANULARITY
        while True:
            mapped = mmap.mmap(fileno, end - offset, offset=offset, access=mmap.ACCESS_READ)
            cut = total if end == total else offset + mapped.rfind(b"\n", start - offset) + 1
            if cut > start:
                break
            mapped.close()  # a line longer than a block: map on
            end = min(end + size, total)
        yield pa.py_buffer(memoryview(mapped)[start - offset : cut - offset])
        start = cut


def _with_text_columns(batch: pa.RecordBatch, names: set[str]) -> pa.RecordBatch:
    """The batch with the named columns as text (numbers written back as Arrow formats them)."""
    columns = [
        c.cast(pa.string()) if n in names and c.type != pa.string() else c
        for n, c in zip(batch.schema.names, batch.columns, strict=True)
    ]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
