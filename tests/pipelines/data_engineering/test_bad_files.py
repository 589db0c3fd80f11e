"""Bad raw history files through the catalog's reader: each names the file and its problem."""

from __future__ import annotations

import gzip

import pytest
from kedro.io import DatasetError

from tests.pipelines.data_engineering import engine
from yield_runway.contracts import HISTORY_COLUMNS

HEADER = ",".join(HISTORY_COLUMNS) + "\n"


def _row(hour: int, pool: str = "p1", apy: str = "5.0") -> str:
    return f"2025-01-01T{hour:02d}:00:00.000Z,{pool},Ethereum,aave-v3,USDC,1000,{apy},{apy},\n"


GOOD = HEADER + "".join(_row(h) for h in range(6))


@pytest.fixture
def load(tmp_path):
    """A file of the given bytes, and its reduction on the engine as the pipeline runs it."""

    def _load(name: str, payload: bytes):
        path = tmp_path / name
        path.write_bytes(payload)
        return str(path), lambda params: engine.reduce(path, params, tmp_path)

    return _load


@pytest.fixture
def de_params(parameters) -> dict:
    return {**parameters["data_engineering"], "apy_outlier_quantile": 1.0}


# (file name, bytes, what the engine's error says besides the file's name)
UNREADABLE = [
    ("not-gzip.csv.gz", GOOD.encode(), "Input is not a GZIP stream"),
    ("binary.csv", bytes(range(256)) * 40, "Error when sniffing file"),
]


@pytest.mark.parametrize(("name", "payload", "problem"), UNREADABLE)
def test_an_unreadable_file_is_named_with_its_problem(load, de_params, name, payload, problem):
    path, reduce = load(name, payload)
    with pytest.raises(DatasetError) as error:
        reduce(de_params)
    assert path in str(error.value) and problem in str(error.value)


@pytest.mark.parametrize("payload", [b"", gzip.compress(b"")])
def test_an_empty_file_is_refused_for_its_missing_columns(load, de_params, payload):
    _, reduce = load("empty.csv.gz" if payload else "empty.csv", payload)
    with pytest.raises(ValueError, match=r"missing required column\(s\): timestamp, pool"):
        reduce(de_params)


def test_a_line_not_in_utf8_is_a_malformed_row(load, de_params):
    latin1 = GOOD + _row(6, pool="caf\xe9")
    _, reduce = load("latin1.csv", latin1.encode("latin-1"))
    _, report = reduce(de_params)
    assert (
        report["malformed_rows"][0]["line"] == 8
        and "unicode" in report["malformed_rows"][0]["problem"].lower()
    )
    assert report["rows_clean"] == 6


def test_malformed_rows_are_dropped_counted_and_named(load, de_params, caplog):
    lines = GOOD.splitlines(keepends=True)
    lines[3] = lines[3].replace(",USDC,", ",")  # a field short: file line 4
    lines.append("garbage\n")  # file line 8
    path, reduce = load("history.csv", "".join(lines).encode())
    with caplog.at_level("WARNING"):
        daily, report = reduce(de_params)
    assert report["dropped_by_reason"]["malformed_row"] == 2
    assert report["rows_raw"] == 7 and report["rows_clean"] == 5
    assert [r["line"] for r in report["malformed_rows"]] == [4, 8]
    assert report["malformed_rows"][1]["problem"] == "Expected Number of Columns: 9 Found: 1"
    assert f"{path} line 4: Expected Number of Columns: 9 Found: 8" in caplog.text
    assert daily.to_pandas()["apy"].tolist() == [5.0]


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("header-only.csv", HEADER, "the file has no row"),
        ("all-malformed.csv", HEADER + "a,b\nc\n", "malformed_row=2"),
        ("all-bad-apy.csv", HEADER + _row(0, apy="x") + _row(1, apy="-1"), "non_numeric_apy=1"),
    ],
)
def test_a_file_with_no_usable_row_is_refused_with_the_reasons(load, de_params, name, text, reason):
    _, reduce = load(name, text.encode())
    with pytest.raises(ValueError, match="pools_history has no usable row") as error:
        reduce(de_params)
    assert reason in str(error.value)


def test_a_missing_column_is_named(load, de_params):
    _, reduce = load("no-apy.csv", GOOD.replace(",apy,", ",yield,").encode())
    with pytest.raises(ValueError, match=r"missing required column\(s\): apy"):
        reduce(de_params)
