"""DuckDB's httpfs extension, installed from its Python package: the engine reads s3:// offline.

DuckDB downloads an extension the first time a query needs it; machines without internet (CI,
a locked-down runner) cannot. The package ships DuckDB's signed build for the pinned version.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import duckdb
from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


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


def reads_s3(catalog_conf: dict[str, Any]) -> bool:
    """True when an Ibis dataset of the catalog reads or writes an s3:// path."""
    return any(
        str(entry.get("type", "")).startswith("ibis.")
        and str(entry.get("filepath", "")).startswith("s3://")
        for entry in catalog_conf.values()
        if isinstance(entry, dict)
    )


class EngineExtensions:
    """Install httpfs before any dataset connects, in an env whose engine reads s3://."""

    @hook_impl
    def after_context_created(self, context) -> None:
        if not reads_s3(context.config_loader["catalog"]):
            return
        try:
            install_httpfs()
        except (OSError, duckdb.Error) as error:  # a read-only home, say: DuckDB will say why
            logger.warning("Could not install DuckDB's httpfs extension: %s", error)
