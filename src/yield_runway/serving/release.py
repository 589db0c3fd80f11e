"""A model release: the files scoring needs, named with their SHA-256 by one manifest.

Training writes `<root>/<version>/` (the two ONNX graphs and the JSON scoring reads, then that
version's `manifest.json`), then copies the manifest to `<root>/manifest.json`, which names the
version in service. Readers take the version from that manifest, never from folder names, and
refuse any file whose bytes do not hash to the manifest's SHA-256. Nothing is unpickled: a
file planted under the root is never read, and a changed one is refused. Rolling back is copying
an older version's manifest over `<root>/manifest.json`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .scorer import OnnxScorer, ScorerError

FORMAT = 1
MANIFEST = "manifest.json"
MODELS = ("champion_model", "legacy_model")
# The JSON files a release carries (scoring's inputs besides the graphs), by key.
TABLES = {
    "feature_list": "feature_list.json",
    "categorical_mapping": "categorical_mapping.json",
    "observation_limits": "observation_limits.json",
    "market_universe": "market_universe.json",
    # The parameters the models were trained with, which the API computes features by.
    "serving_parameters": "serving_parameters.json",
}
# Tables a release may lack (one trained before they existed): only what needs them refuses it.
OPTIONAL_TABLES = ("serving_parameters",)
# What training ran on, for the next training's gate (not read by scoring).
HISTORY = "history.json"
# Versions and file names are single path parts: a manifest cannot point outside its root.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ReleaseError(RuntimeError):
    """A release is missing, incomplete or altered; the message names the file and the fix."""


@dataclass
class Release:
    """A verified release: the served models and the tables scoring needs."""

    version: str
    models: dict[str, OnnxScorer]
    feature_list: list[str]
    categorical_mapping: dict[str, Any]
    observation_limits: dict[str, float]
    market_universe: list[str]
    # None in a release trained before the API computed features by its parameters.
    serving_parameters: dict[str, Any] | None


def sha256(payload: bytes) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(payload).hexdigest()


def json_bytes(value: Any) -> bytes:
    """A JSON file's bytes, as a release stores it."""
    return json.dumps(value, indent=1, sort_keys=True, allow_nan=False).encode()


# The Kedro parameters `serving_parameters` takes, in order (training and the hourly run alike).
SERVING_PARAMETER_INPUTS = [
    "params:feature_engineering",
    "params:target",
    "params:served_population",
    "params:data_engineering.snapshot_metadata_columns",
    "params:inference.max_state_age_days",
]


def serving_parameters(
    feature_engineering: Mapping[str, Any],
    target: Mapping[str, Any],
    served_population: Mapping[str, Any],
    snapshot_metadata_columns: list[str],
    max_state_age_days: int,
) -> dict[str, Any]:
    """The parameters a release is served by: its features, label, served pools, warnings."""
    # Threads are a knob of the machine, not of the model.
    features = {k: v for k, v in feature_engineering.items() if k != "window_threads"}
    return json.loads(
        json.dumps(
            {
                "feature_engineering": features,
                "target": dict(target),
                "served_population": dict(served_population),
                "snapshot_metadata_columns": list(snapshot_metadata_columns),
                "max_state_age_days": max_state_age_days,
            }
        )
    )


# Parameters that make the model what it is: the hourly run refuses a conf that changed them.
MODEL_PARAMETERS = (
    "feature_engineering",
    "target",
    "served_population",
    "snapshot_metadata_columns",
)


def parameter_differences(release: Mapping[str, Any], conf: Mapping[str, Any]) -> list[str]:
    """The dotted names of the model parameters whose values differ between two sets."""

    def flat(value: Any, prefix: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            return {prefix: value}
        return {
            k: v for key, item in value.items() for k, v in flat(item, f"{prefix}.{key}").items()
        }

    ours = {k: v for key in MODEL_PARAMETERS for k, v in flat(release.get(key), key).items()}
    theirs = {k: v for key in MODEL_PARAMETERS for k, v in flat(conf.get(key), key).items()}
    return sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))


def build_manifest(
    version: str, files: Mapping[str, bytes], models: Mapping[str, Any], **extra: Any
) -> dict[str, Any]:
    """The manifest of `files` (name -> bytes) and the model specs, for `version`."""
    for name in [version, *files]:
        if not _NAME.fullmatch(name):
            raise ReleaseError(f"not a plain file or version name: {name!r}")
    return {
        "format": FORMAT,
        "version": version,
        "files": {n: {"sha256": sha256(b), "bytes": len(b)} for n, b in sorted(files.items())},
        "models": dict(models),
        **extra,
    }


def _manifest(text: bytes, where: str) -> dict[str, Any]:
    """A parsed manifest, refused unless its shape is the one training writes."""
    try:
        manifest = json.loads(text)
        version, files, models = manifest["version"], manifest["files"], manifest["models"]
        names_ok = all(isinstance(n, str) and _NAME.fullmatch(n) for n in [version, *files])
        hashes_ok = all(
            isinstance(f["sha256"], str)
            and _SHA256.fullmatch(f["sha256"])
            and type(f["bytes"]) is int
            and 0 <= f["bytes"] < 2**40
            for f in files.values()
        )
        models_ok = all(models[m]["file"] in files for m in MODELS)
        format_ok = type(manifest.get("format")) is int and manifest["format"] == FORMAT
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ReleaseError(
            f"{where} is not a release manifest ({str(error)[:200]}): retrain, or copy a good "
            "version's manifest.json there"
        ) from None
    if not (format_ok and names_ok and hashes_ok and models_ok):
        raise ReleaseError(
            f"{where} is not a format-{FORMAT} release manifest with plain names, a SHA-256 "
            "per file and both models: retrain, or copy a good version's manifest.json there"
        )
    missing = [f for k, f in TABLES.items() if f not in files and k not in OPTIONAL_TABLES]
    if missing:
        raise ReleaseError(f"{where} names no {', '.join(missing)}: retrain")
    return manifest


def _read(fs: Any, path: str, missing: str) -> bytes:
    """A file's bytes; any failure to read it (missing, denied, throttled) is a ReleaseError."""
    try:
        return fs.cat_file(path)
    except FileNotFoundError:
        raise ReleaseError(f"Missing {path}: {missing}") from None
    except (OSError, ValueError) as error:  # S3 throttling, access denied, a directory...
        raise ReleaseError(f"Cannot read {path}: {str(error)[:200]}") from None


def _read_manifest(fs: Any, root: str) -> dict[str, Any]:
    """The root's manifest, parsed and checked."""
    where = f"{root}/{MANIFEST}"
    fix = "run `kedro run --pipeline=training` and copy its 06_models/release there"
    return _manifest(_read(fs, where, fix), where)


def current_version(fs: Any, root: str) -> str:
    """The version the root's manifest puts in service (one small read)."""
    return _read_manifest(fs, root)["version"]


def _verified(fs: Any, path: str, entry: Mapping[str, Any]) -> bytes:
    """A file's bytes, refused unless they match the manifest's size and SHA-256."""
    payload = _read(fs, path, "the manifest names it: upload that version again")
    if len(payload) != entry["bytes"] or sha256(payload) != entry["sha256"]:
        raise ReleaseError(
            f"{path} is {len(payload):,} bytes with SHA-256 {sha256(payload)[:12]}..., the "
            f"manifest says {entry['bytes']:,} bytes and {entry['sha256'][:12]}...: truncated "
            "or replaced; upload that version again or roll back"
        )
    return payload


def read_release(fs: Any, root: str, n_jobs: int | None = 1) -> Release:
    """The release the root's manifest names, every file checked against its SHA-256."""
    manifest = _read_manifest(fs, root)
    folder = f"{root}/{manifest['version']}"
    payloads = {n: _verified(fs, f"{folder}/{n}", e) for n, e in manifest["files"].items()}
    try:
        tables = {
            key: json.loads(payloads[name]) if name in payloads else None
            for key, name in TABLES.items()
        }
    except ValueError as error:
        raise ReleaseError(f"{folder}: a table is not JSON ({error})") from None
    models = {}
    for key in MODELS:
        spec = manifest["models"][key]
        try:
            models[key] = OnnxScorer(payloads[spec["file"]], spec, n_jobs)
            models[key].self_check(spec.get("check"))
        except ScorerError as error:
            raise ReleaseError(f"{folder}/{spec['file']}: {error}") from None
        missing = [f for f in models[key].features if f not in tables["feature_list"]]
        if missing:
            raise ReleaseError(
                f"{folder}/{spec['file']} needs feature(s) its feature_list lacks: "
                f"{', '.join(missing)}"
            )
    return Release(version=manifest["version"], models=models, **tables)
