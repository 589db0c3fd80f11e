"""DuckDB's httpfs extension, installed from its Python package: the engine reads s3:// offline.

DuckDB downloads an extension the first time a query needs it; machines without internet (CI,
a locked-down runner) cannot. The package ships DuckDB's signed build for the pinned version.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from kedro.framework.hooks import hook_impl


def install_httpfs() -> bool:
    """Install httpfs from `duckdb-extension-httpfs` unless DuckDB has it; True if it has now."""
    con = duckdb.connect()
    query = "select installed from duckdb_extensions() where extension_name = 'httpfs'"
    if con.sql(query).fetchone()[0]:
        return True
    try:
        import duckdb_extension_httpfs
    except ImportError:
        return False
    package = Path(duckdb_extension_httpfs.__file__).parent / "extensions"
    built = package / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    if not built.exists():
        return False
    con.install_extension(str(built))
    return True


class EngineExtensions:
    """Install the engine's extensions before any dataset connects."""

    @hook_impl
    def after_context_created(self, context) -> None:
        install_httpfs()
