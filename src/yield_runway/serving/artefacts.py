"""Model artefacts for the HTTP API: loaded once per container, reloaded when a newer one lands.

Layout under the data root (local path or s3://bucket/prefix), as training writes it:
06_models/{champion,legacy}_model.joblib/<version>/..., 06_models/feature_list.json,
06_models/categorical_mapping.json, 06_models/observation_limits.json and
04_feature/feature_state.parquet.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fsspec
import joblib
import pandas as pd

from yield_runway.features.daily import ORIGINAL_FEATURES
from yield_runway.pipelines.inference.contract import FeatureMismatchError, check_model_features
from yield_runway.pipelines.inference.nodes import use_threads

logger = logging.getLogger(__name__)

MODELS = ("champion_model", "legacy_model")
STATE_PATH = "04_feature/feature_state.parquet"
MARKET_PATH = "04_feature/market_context.json"


class ArtefactError(RuntimeError):
    """Artefacts are missing or inconsistent; the message says which and how to fix it."""


@dataclass
class Artefacts:
    """What a request needs; `versions` names the model versions loaded."""

    champion_model: Any
    legacy_model: Any
    feature_list: list[str]
    categorical_mapping: dict[str, Any]
    observation_limits: dict[str, float]
    versions: dict[str, str]
    # Files the hourly run rewrites, by path under the root: (version tag, content).
    files: dict[str, tuple[str, Any]] = field(default_factory=dict)
    loaded_at: float = field(default_factory=time.monotonic)


class ArtefactStore:
    """Loads artefacts once and re-checks the latest model version at most every `ttl` seconds."""

    def __init__(self, root: str, ttl_seconds: float, n_jobs: int = 1) -> None:
        # No listings cache: a warm container must see a model version uploaded after it started.
        self.fs, self.root = fsspec.core.url_to_fs(
            root, use_listings_cache=False, skip_instance_cache=True
        )
        self.uri = root
        self.ttl = ttl_seconds
        self.n_jobs = n_jobs
        self._current: Artefacts | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def _path(self, relative: str) -> str:
        return f"{self.root.rstrip('/')}/{relative}"

    def _require(self, relative: str) -> str:
        path = self._path(relative)
        if not self.fs.exists(path):
            raise ArtefactError(
                f"Missing artefact {self.uri}/{relative}: run `kedro run --pipeline=training` "
                f"and copy data/{relative} there"
            )
        return path

    def latest_version(self, model: str) -> str:
        """The newest version folder of a versioned model that holds the model file."""
        folder = self._path(f"06_models/{model}.joblib")
        try:
            entries = self.fs.ls(folder, detail=False, refresh=True)
        except FileNotFoundError:
            entries = []
        # Kedro version names are UTC timestamps: they sort chronologically as text.
        for version in sorted((e.rstrip("/").rsplit("/", 1)[-1] for e in entries), reverse=True):
            if self.fs.exists(f"{folder}/{version}/{model}.joblib"):
                return version
        raise ArtefactError(
            f"Missing artefact {self.uri}/06_models/{model}.joblib/<version>/{model}.joblib: "
            "run `kedro run --pipeline=training` and copy data/06_models there"
        )

    def _load_json(self, relative: str) -> Any:
        with self.fs.open(self._require(relative), "rb") as handle:
            return json.load(handle)

    def _load_model(self, model: str, version: str) -> Any:
        with self.fs.open(self._path(f"06_models/{model}.joblib/{version}/{model}.joblib")) as f:
            return use_threads(joblib.load(f), self.n_jobs)

    def _load(self, versions: dict[str, str]) -> Artefacts:
        feature_list = self._load_json("06_models/feature_list.json")
        mapping = self._load_json("06_models/categorical_mapping.json")
        limits = self._load_json("06_models/observation_limits.json")
        models = {m: self._load_model(m, versions[m]) for m in MODELS}
        try:
            for name, model in models.items():
                check_model_features(model, feature_list, f"{name} {versions[name]}")
        except FeatureMismatchError as error:
            raise ArtefactError(str(error)) from None
        if list(models["legacy_model"].features) != ORIGINAL_FEATURES:
            raise ArtefactError(
                f"legacy_model {versions['legacy_model']} uses {models['legacy_model'].features}; "
                f"the legacy API needs exactly {ORIGINAL_FEATURES}"
            )
        logger.info("Loaded artefacts from %s: %s", self.uri, versions)
        return Artefacts(
            champion_model=models["champion_model"],
            legacy_model=models["legacy_model"],
            feature_list=feature_list,
            categorical_mapping=mapping,
            observation_limits=limits,
            versions=versions,
        )

    def get(self) -> Artefacts:
        """The current artefacts, reloaded when a newer model version appeared."""
        with self._lock:
            now = time.monotonic()
            if self._current is None or now - self._checked_at >= self.ttl:
                versions = {m: self.latest_version(m) for m in MODELS}
                if self._current is None or versions != self._current.versions:
                    self._current = self._load(versions)
                self._checked_at = now
            return self._current

    def _tag(self, path: str) -> str:
        """A stored file's version tag: its ETag on S3, its modification time locally."""
        info = self.fs.info(path)
        return str(info.get("ETag") or info.get("mtime") or info.get("LastModified"))

    def _fresh(self, relative: str, read: Callable[[Any], Any]) -> Any:
        """A file the hourly run rewrites, read again only when its version tag changed."""
        artefacts = self.get()
        with self._lock:
            path = self._require(relative)
            tag = self._tag(path)
            cached = artefacts.files.get(relative)
            if cached is None or cached[0] != tag:
                with self.fs.open(path, "rb") as handle:
                    cached = (tag, read(handle))
                artefacts.files[relative] = cached
            return cached[1]

    def feature_state(self) -> pd.DataFrame:
        """The feature state the scheduled run last wrote (re-read when its ETag/mtime changes)."""
        return self._fresh(STATE_PATH, pd.read_parquet)

    def market_context(self) -> dict[str, Any]:
        """The market context the hourly run (or training) last wrote, re-read when it changes."""
        return self._fresh(MARKET_PATH, self._read_market)

    def _read_market(self, handle: Any) -> dict[str, Any]:
        """A stored market context, refused when it holds no pool."""
        context = json.load(handle)
        if not (isinstance(context, dict) and context.get("apy")):
            raise ArtefactError(
                f"{self.uri}/{MARKET_PATH} holds no market (no pool observed): rerun the hourly"
                f" `inference` or copy training's data/{MARKET_PATH}"
            )
        return context
