"""Bad raw history files through the catalog's reader: each names the file and its problem."""

from __future__ import annotations

import gzip

import pytest
import yaml

from tests.conftest import PROJECT_ROOT
from yield_runway.contracts import HISTORY_COLUMNS
from yield_runway.datasets import CSVBatchesDataset
from yield_runway.pipelines.data_engineering.nodes import reduce_pools_history

HEADER = ",".join(HISTORY_COLUMNS) + "\n"


def _row(hour: int, pool: str = "p1", apy: str = "5.0") -> str:
    return f"2025-01-01T{hour:02d}:00:00.000Z,{pool},Ethereum,aave-v3,USDC,1000,{apy},{apy},\n"


GOOD = HEADER + "".join(_row(h) for h in range(6))


@pytest.fixture
def load(tmp_path):
    """The catalog's pools_history dataset (its load_args) on a file of the given bytes."""
    entry = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog.yml").read_text())["pools_history"]

    def _load(name: str, payload: bytes):
        path = tmp_path / name
        path.write_bytes(payload)
        return str(path), CSVBatchesDataset(filepath=str(path), load_args=entry["load_args"])

    return _load


@pytest.fixture
def de_params(parameters) -> dict:
    return {**parameters["data_engineering"], "apy_outlier_quantile": 1.0}


# (file name, bytes, what the error says besides the file's name)
UNREADABLE = [
    ("empty.csv", b"", "the file is empty"),
    ("empty.csv.gz", gzip.compress(b""), "the file is empty"),
    ("truncated.csv.gz", gzip.compress(GOOD.encode())[:-20], "cannot be read"),
    ("not-gzip.csv.gz", GOOD.encode(), "not gzip"),
    ("binary.csv", bytes(range(256)) * 40, "cannot be read"),
    ("latin1.csv", (HEADER + _row(0, pool="caf\xe9")).encode("latin-1"), "UTF8"),
]


@pytest.mark.parametrize(("name", "payload", "problem"), UNREADABLE)
def test_an_unreadable_file_is_named_with_its_problem(load, de_params, name, payload, problem):
    path, dataset = load(name, payload)
    with pytest.raises(ValueError) as error:
        reduce_pools_history(dataset.load(), de_params)
    assert path in str(error.value) and problem in str(error.value)
    assert "Traceback" not in str(error.value)


def test_malformed_rows_are_dropped_counted_and_named(load, de_params, caplog):
    lines = GOOD.splitlines(keepends=True)
    lines[3] = lines[3].replace(",USDC,", ",")  # a field short: file line 4
    lines.append("garbage\n")  # file line 8
    path, dataset = load("history.csv", "".join(lines).encode())
    with caplog.at_level("WARNING"):
        daily, report = reduce_pools_history(dataset.load(), de_params)
    assert report["dropped_by_reason"]["malformed_row"] == 2
    assert report["rows_raw"] == 7 and report["rows_clean"] == 5
    assert [r["line"] for r in report["malformed_rows"]] == [4, 8]
    assert report["malformed_rows"][1]["problem"] == "expected 9 fields, got 1"
    assert f"{path} line 4: expected 9 fields, got 8" in caplog.text
    assert daily["apy"].tolist() == [5.0]


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("header-only.csv", HEADER, "the file has no row"),
        ("all-malformed.csv", HEADER + "a,b\nc\n", "malformed_row=2"),
        ("all-bad-apy.csv", HEADER + _row(0, apy="x") + _row(1, apy="-1"), "non_numeric_apy=1"),
    ],
)
def test_a_file_with_no_usable_row_is_refused_with_the_reasons(load, de_params, name, text, reason):
    _, dataset = load(name, text.encode())
    with pytest.raises(ValueError, match="pools_history has no usable row") as error:
        reduce_pools_history(dataset.load(), de_params)
    assert reason in str(error.value)


def test_a_missing_column_is_named(load, de_params):
    path, dataset = load("no-apy.csv", GOOD.replace(",apy,", ",yield,").encode())
    with pytest.raises(ValueError, match=r"missing required column\(s\): apy"):
        reduce_pools_history(dataset.load(), de_params)
