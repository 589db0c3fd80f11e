"""Deterministic embedded sample of the DefiLlama yields history and snapshot."""

from yield_runway.sample_data.generator import (
    HISTORY_COLUMNS,
    HISTORY_FILE,
    SNAPSHOT_FIELDS,
    SNAPSHOT_FILE,
    SampleSpec,
    generate,
    write,
)

__all__ = [
    "HISTORY_COLUMNS",
    "HISTORY_FILE",
    "SNAPSHOT_FIELDS",
    "SNAPSHOT_FILE",
    "SampleSpec",
    "generate",
    "write",
]
