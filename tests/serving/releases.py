"""Test helpers: publish a changed copy of a stored model release, as a new training run would."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yield_runway.serving.release import MANIFEST, build_manifest, sha256


def manifest(root: Path) -> dict[str, Any]:
    """The manifest in service under a release root."""
    return json.loads((root / MANIFEST).read_text())


def republish(
    root: Path,
    version: str,
    change: Callable[[dict[str, bytes], dict[str, Any]], None] = lambda files, models: None,
    corrupt: Callable[[dict[str, bytes]], None] | None = None,
    source: str | None = None,
) -> Path:
    """Copy a release (`source`, else the one in service) to `version`, apply `change` to its
    files and model specs, write its manifest and put it in service; `corrupt` then alters files
    after hashing (a bad upload). Returns the new version's folder."""
    current = json.loads((root / source / MANIFEST).read_text()) if source else manifest(root)
    folder = root / current["version"]
    files = {name: (folder / name).read_bytes() for name in current["files"]}
    models = json.loads(json.dumps(current["models"]))
    change(files, models)
    extra = {k: v for k, v in current.items() if k not in ("format", "version", "files", "models")}
    text = json.dumps(build_manifest(version, files, models, **extra)).encode()
    if corrupt is not None:
        corrupt(files)
    target = root / version
    target.mkdir()
    for name, payload in files.items():
        (target / name).write_bytes(payload)
    (target / MANIFEST).write_bytes(text)
    (root / MANIFEST).write_bytes(text)
    return target


__all__ = ["manifest", "republish", "sha256"]
