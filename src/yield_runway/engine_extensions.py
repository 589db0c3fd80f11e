"""DuckDB's httpfs extension, installed from its Python package: the engine reads s3:// offline.

DuckDB downloads an extension the first time a query needs it; machines without internet (CI,
a locked-down runner) cannot. The package ships DuckDB's signed build for the pinned version.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


def install_httpfs() -> bool:
    """Install httpfs from `duckdb-extension-httpfs` unless DuckDB has it; True if it has now."""
    import duckdb  # here: the Lambda's cold start imports these settings, and never needs it

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
        str(entry.get("type", "")).split("kedro_datasets.")[-1].startswith("ibis.")
        and str(entry.get("filepath", "")).startswith("s3://")
        for entry in catalog_conf.values()
        if isinstance(entry, dict)
    )


class EngineExtensions:
    """Install httpfs before any dataset connects, in an env whose engine reads s3://."""

    # The catalog's datasets connect when first used, after this hook; its conf is already read.
    @hook_impl
    def after_catalog_created(self, conf_catalog: dict[str, Any]) -> None:
        if not reads_s3(conf_catalog):
            return
        try:
            installed = install_httpfs()
        except Exception as error:  # a read-only home, say: the read that needs it will fail too
            installed, reason = False, str(error)
        else:
            reason = "duckdb-extension-httpfs has no build for this DuckDB"
        if not installed:
            logger.warning(
                "DuckDB's httpfs extension is not installed (%s): s3:// reads need it", reason
            )
