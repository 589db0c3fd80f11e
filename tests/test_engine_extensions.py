"""DuckDB's httpfs comes from its PyPI build, and only envs whose engine reads s3:// install it."""

from __future__ import annotations

import duckdb

from yield_runway.engine_extensions import install_httpfs, reads_s3


def test_httpfs_is_installed_from_its_package_without_a_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # DuckDB keeps extensions under ~/.duckdb
    assert install_httpfs() is True
    installed = list((tmp_path / ".duckdb" / "extensions").rglob("httpfs.duckdb_extension"))
    assert len(installed) == 1
    con = duckdb.connect()
    con.load_extension("httpfs")  # signed: DuckDB refuses an unsigned build
    assert con.sql(
        "select loaded from duckdb_extensions() where extension_name = 'httpfs'"
    ).fetchone()[0]


def test_only_an_engine_reading_s3_needs_it():
    local = {"pools_history@ibis": {"type": "ibis.FileDataset", "filepath": "data/01_raw/h.csv"}}
    remote = {"pools_history@ibis": {"type": "ibis.FileDataset", "filepath": "s3://b/h.csv"}}
    other = {"pools_snapshot": {"type": "json.JSONDataset", "filepath": "s3://b/s.json"}}
    assert not reads_s3(local) and reads_s3(remote) and not reads_s3(other)
