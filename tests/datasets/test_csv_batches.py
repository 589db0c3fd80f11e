"""CSVBatchesDataset: lazy, re-iterable Arrow batches of a (gzipped) CSV; saves pandas frames."""

from __future__ import annotations

import gzip

import pandas as pd
import pyarrow as pa
import pytest
from kedro.io import DatasetError

from yield_runway.datasets import CSVBatches, CSVBatchesDataset
from yield_runway.datasets.csv_batches import RawFileError, _mapped_line_blocks

TEXT = "timestamp,pool,apy\n2025-01-01T00:00:00.000Z,p1,5.0\n2025-01-01T01:00:00.000Z,,NaN\n"


@pytest.mark.parametrize("name", ["h.csv", "h.csv.gz"])
def test_load_is_lazy_and_reiterable(tmp_path, name):
    path = tmp_path / name
    data = TEXT * 200
    header, body = data.split("\n", 1)
    content = (header + "\n" + body.replace(header + "\n", "")).encode()
    path.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    dataset = CSVBatchesDataset(
        filepath=str(path),
        load_args={"block_size": 1024, "column_types": {"timestamp": "string", "apy": "string"}},
    )
    batches = dataset.load()
    assert isinstance(batches, CSVBatches)
    first, second = list(batches), list(batches)
    assert len(first) > 1 and sum(b.num_rows for b in first) == 400
    assert sum(b.num_rows for b in second) == 400
    assert first[0].schema.field("apy").type == pa.string()
    frame = batches.to_pandas()
    # Only the empty field is null: the text "NaN" stays text, for validation to judge.
    assert frame["apy"].iloc[1] == "NaN" and pd.isna(frame["pool"].iloc[1])


def test_save_writes_csv_that_loads_back(tmp_path):
    dataset = CSVBatchesDataset(filepath=str(tmp_path / "sub" / "h.csv"))
    dataset.save(pd.DataFrame({"pool": ["a", "b"], "apy": ["1.5", None]}))
    assert dataset.exists()
    assert (tmp_path / "sub" / "h.csv").read_text().splitlines() == ["pool,apy", "a,1.5", "b,"]
    assert dataset.load().to_pandas()["pool"].tolist() == ["a", "b"]


def test_missing_file_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="No CSV"):
        CSVBatchesDataset(filepath=str(tmp_path / "absent.csv")).load()


@pytest.mark.parametrize("trailing_newline", [True, False])
def test_blocks_split_at_line_ends_and_keep_every_row(tmp_path, trailing_newline):
    rows = [f"2025-01-01T00:00:00.000Z,{'p' * (i % 50)}{i},{i}.5" for i in range(3000)]
    # One line longer than a block: a block is read on until it holds a whole line.
    rows[1000] = "2025-01-01T00:00:00.000Z," + "x" * 5000 + ",1"
    text = "timestamp,pool,apy\n" + "\n".join(rows) + ("\n" if trailing_newline else "")
    path = tmp_path / "h.csv"
    path.write_text(text)
    dataset = CSVBatchesDataset(
        filepath=str(path),
        load_args={"block_size": 2048, "column_types": {"apy": "string"}, "read_threads": 3},
    )
    batches = list(dataset.load())
    assert len(batches) > 10
    assert {b.schema for b in batches} == {batches[0].schema}  # the first block's types
    frame = pa.Table.from_batches(batches).to_pandas()
    expected = [f"{'p' * (i % 50)}{i}" for i in range(3000)]
    expected[1000] = "x" * 5000
    assert frame["pool"].tolist() == expected
    assert frame["apy"].tolist()[:3] == ["0.5", "1.5", "2.5"]


@pytest.mark.parametrize("trailing_newline", [True, False])
@pytest.mark.parametrize("size", [1, 100, 4096, 5000])
def test_mapped_blocks_are_whole_lines_of_about_block_size(tmp_path, size, trailing_newline):
    # Lines of every length from 1 to 300 bytes, and one longer than every block size.
    lines = [b"x" * (i % 300) + b"," + str(i).encode() for i in range(400)]
    lines[200] = b"y" * 9000
    content = b"\n".join(lines) + (b"\n" if trailing_newline else b"")
    path = tmp_path / "h.csv"
    path.write_bytes(content)
    with open(path, "rb") as file:
        blocks = [bytes(b) for b in _mapped_line_blocks(file.fileno(), size)]
    assert b"".join(blocks) == content
    for block, after in zip(blocks, blocks[1:], strict=False):
        assert block.endswith(b"\n")
        first_line = block.index(b"\n") + 1
        if first_line > size:  # a line longer than a block: mapped on, in steps of `size`
            assert len(block) < first_line + size
        else:  # at most `size` bytes, and the next line did not fit
            assert len(block) <= size < len(block) + after.find(b"\n") + 1 or b"\n" not in after


def test_an_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(RawFileError, match=f"{path}: cannot be read .*the file is empty"):
        list(CSVBatchesDataset(filepath=str(path)).load())


@pytest.mark.parametrize("name", ["h.csv", "h.csv.gz"])
def test_malformed_rows_are_skipped_and_named_by_file_line(tmp_path, name):
    good = "2025-01-01T00:00:00.000Z,p{i},5.0\n"
    lines = [good.format(i=i) for i in range(300)]
    lines[10] = "2025-01-01T00:00:00.000Z,p10\n"  # file line 12: a field short
    lines[250] = "2025-01-01T00:00:00.000Z,p250,5.0,extra\n"  # file line 252: one too many
    lines[5] = "\n"  # a blank line (file line 7): Arrow's own row numbers skip it
    text = "timestamp,pool,apy\n" + "".join(lines)
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    # Blocks of 1 KB: the bad rows fall in different blocks, not the first.
    batches = CSVBatchesDataset(filepath=str(path), load_args={"block_size": 1024}).load()
    rows = pa.Table.from_batches(list(batches)).to_pandas()
    assert len(rows) == 297 and "p10" not in set(rows["pool"]) and "p250" not in set(rows["pool"])
    count, listed = batches.malformed_rows()
    assert count == 2
    assert listed == [
        {"line": 12, "problem": "expected 3 fields, got 2", "text": "2025-01-01T00:00:00.000Z,p10"},
        {
            "line": 252,
            "problem": "expected 3 fields, got 4",
            "text": "2025-01-01T00:00:00.000Z,p250,5.0,extra",
        },
    ]
    assert text.splitlines()[11] == listed[0]["text"]  # line 12, counting from 1
    list(batches)  # a second pass counts afresh
    assert batches.malformed_rows()[0] == 2


def test_expected_rows_from_the_size_of_a_plain_file_only(tmp_path):
    (tmp_path / "h.csv").write_text(TEXT)
    (tmp_path / "h.csv.gz").write_bytes(gzip.compress(TEXT.encode()))
    plain = CSVBatchesDataset(filepath=str(tmp_path / "h.csv")).load()
    assert plain.expected_rows == len(TEXT.encode()) // 110
    assert CSVBatchesDataset(filepath=str(tmp_path / "h.csv.gz")).load().expected_rows is None


def test_a_header_only_file_has_no_rows_and_its_columns(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("timestamp,pool,apy\n")
    load_args = {"column_types": {"timestamp": "string", "pool": "string", "apy": "string"}}
    batches = list(CSVBatchesDataset(filepath=str(path), load_args=load_args).load())
    assert sum(b.num_rows for b in batches) == 0
    assert batches[0].schema.names == ["timestamp", "pool", "apy"]


def _good_rows(n: int) -> list[str]:
    return [f"2025-01-01T00:00:00.000Z,p{i},5.0\n" for i in range(n)]


def _malformed(path, text: str, block_size: int = 1 << 20):
    path.write_text(text)
    batches = CSVBatchesDataset(filepath=str(path), load_args={"block_size": block_size}).load()
    rows = pa.Table.from_batches(list(batches)).to_pandas()
    return rows, *batches.malformed_rows()


def test_a_stray_quote_loses_the_lines_it_swallows_and_says_so(tmp_path):
    lines = _good_rows(50)
    lines[9] = '2025-01-01T00:00:00.000Z,"p9,5.0\n'  # an unbalanced quote on file line 11
    rows, count, listed = _malformed(tmp_path / "h.csv", "timestamp,pool,apy\n" + "".join(lines))
    # Every line the quote ran over is lost and counted: none vanishes uncounted.
    assert len(rows) + count == 50 and count > 1
    assert listed[0]["line"] == 11 and "unbalanced quote" in listed[0]["problem"]


def test_rows_joined_by_two_stray_quotes_are_dropped_and_counted(tmp_path):
    lines = _good_rows(50)
    lines[9] = '2025-01-01T00:00:00.000Z,"p9,5.0\n'
    lines[19] = '2025-01-01T00:00:00.000Z,p19",5.0\n'  # closes the quote: 11 lines, 3 fields
    rows, count, listed = _malformed(tmp_path / "h.csv", "timestamp,pool,apy\n" + "".join(lines))
    assert len(rows) == 39 and count == 11
    assert "joined them into one row" in listed[0]["problem"]
    assert not rows["pool"].str.contains("\n").any()


def test_many_malformed_rows_keep_their_lines(tmp_path):
    lines = _good_rows(20_000)
    for i in range(0, 20_000, 4):
        lines[i] = "2025-01-01T00:00:00.000Z,short\n"  # every fourth row a field short
    rows, count, listed = _malformed(
        tmp_path / "h.csv", "timestamp,pool,apy\n" + "".join(lines), block_size=1 << 16
    )
    assert len(rows) == 15_000 and count == 5_000
    assert [r["line"] for r in listed] == [2 + 4 * k for k in range(20)]


def test_a_cut_line_is_not_matched_inside_an_earlier_line(tmp_path):
    # The cut line's text is the start of every earlier line: only a whole line matches.
    lines = _good_rows(30)
    lines[20] = "2025-01-01T00:00:00.000Z,p2\n"  # file line 22, a field short
    rows, count, listed = _malformed(tmp_path / "h.csv", "timestamp,pool,apy\n" + "".join(lines))
    assert count == 1 and listed[0]["line"] == 22
