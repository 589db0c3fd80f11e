"""Model artefacts for the HTTP API: loaded once per container, reloaded when a new release lands.

Layout under the data root (local path or s3://bucket/prefix), as training writes it:
06_models/release/manifest.json (the release in service, with the SHA-256 of each of its files)
and 06_models/release/<version>/..., plus the files the hourly run rewrites:
04_feature/feature_state.npz and 04_feature/market_context.json.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from yield_runway.contracts import ORIGINAL_FEATURES
from yield_runway.serving.object_store import object_store
from yield_runway.serving.release import Release, ReleaseError, current_version, read_release
from yield_runway.serving.scorer import OnnxScorer

logger = logging.getLogger(__name__)

RELEASE_PATH = "06_models/release"
# The state as NumPy columns (the hourly run writes it beside its Parquet): no pyarrow here.
STATE_PATH = "04_feature/feature_state.npz"
MARKET_PATH = "04_feature/market_context.json"


class ArtefactError(RuntimeError):
    """Artefacts are missing or inconsistent; the message says which and how to fix it."""


@dataclass
class Artefacts:
    """What a request needs, from one verified release (`version`)."""

    champion_model: OnnxScorer
    legacy_model: OnnxScorer
    feature_list: list[str]
    categorical_mapping: dict[str, Any]
    observation_limits: dict[str, float]
    serving_parameters: dict[str, Any] | None
    version: str
    # Files the hourly run rewrites, by path under the root: (version tag, content).
    files: dict[str, tuple[str, Any]] = field(default_factory=dict)
    loaded_at: float = field(default_factory=time.monotonic)


class ArtefactStore:
    """Loads a release once and re-checks the manifest's version at most every `ttl` seconds.

    A new version that fails to load (missing, truncated or altered file) never replaces the one
    in service: requests go on with it, and the new version is tried again after a back-off that
    doubles from `backoff_seconds` up to `max_backoff_seconds`. With no good version loaded,
    requests get a 503 naming the bad file, and no load is tried before the back-off ends.
    """

    def __init__(
        self,
        root: str,
        ttl_seconds: float,
        n_jobs: int = 1,
        backoff_seconds: float = 30.0,
        max_backoff_seconds: float = 900.0,
    ) -> None:
        # Reads go to the store uncached: a warm container sees a release uploaded after it
        # started. botocore alone for S3 (no s3fs, fsspec), so the API fits a Lambda zip.
        self.fs, self.root = object_store(root)
        self.uri = root
        self.ttl = ttl_seconds
        self.n_jobs = n_jobs
        self.backoff = backoff_seconds
        self.max_backoff = max_backoff_seconds
        self._current: Artefacts | None = None
        self._checked_at = float("-inf")
        # The version that failed last, its error, when it may be tried again, the wait.
        self._failed: tuple[str, str, float, float] | None = None
        self._lock = threading.Lock()

    def _path(self, relative: str) -> str:
        return f"{self.root.rstrip('/')}/{relative}"

    def _require(self, relative: str) -> str:
        path = self._path(relative)
        try:
            exists = self.fs.exists(path)
        except OSError as error:  # a denied or throttled HEAD
            raise ArtefactError(f"Cannot read {self.uri}/{relative}: {error}") from None
        if not exists:
            raise ArtefactError(
                f"Missing artefact {self.uri}/{relative}: run `kedro run --pipeline=training` "
                f"and copy data/{relative} there"
            )
        return path

    def _load(self) -> Artefacts:
        """The release in service, verified, as a request's artefacts."""
        try:
            release: Release = read_release(self.fs, self._path(RELEASE_PATH), self.n_jobs)
        except ReleaseError as error:
            raise ArtefactError(str(error)) from None
        legacy = release.models["legacy_model"]
        if legacy.features != ORIGINAL_FEATURES:
            raise ArtefactError(
                f"legacy_model of release {release.version} uses {legacy.features}; the legacy "
                f"API needs exactly {ORIGINAL_FEATURES}"
            )
        logger.info("Loaded model release %s from %s", release.version, self.uri)
        return Artefacts(
            champion_model=release.models["champion_model"],
            legacy_model=legacy,
            feature_list=release.feature_list,
            categorical_mapping=release.categorical_mapping,
            observation_limits=release.observation_limits,
            serving_parameters=release.serving_parameters,
            version=release.version,
        )

    def _refresh(self, now: float) -> None:
        """Load the manifest's version if it is new and not backing off after a failure.

        Any failure (a bad file, S3 throttling or a denied read) keeps what is loaded.
        """
        try:
            version = current_version(self.fs, self._path(RELEASE_PATH))
        except Exception as error:  # whatever it is, the loaded release stays
            version, problem = "", str(error)
        else:
            if self._current is not None and version == self._current.version:
                self._failed = None
                return
            problem = None
        if self._failed is not None and self._failed[0] == version and now < self._failed[2]:
            return
        if problem is None:
            try:
                self._current, self._failed = self._load(), None
                return
            except Exception as error:  # as above
                problem = str(error)
        # The wait doubles while the same version keeps failing; a new version starts afresh.
        same = self._failed is not None and self._failed[0] == version
        wait = min(2 * self._failed[3], self.max_backoff) if same else self.backoff
        self._failed = (version, problem, now + wait, wait)
        logger.error(
            "Model release %s not loaded (%s); %s; next try in %.0f s",
            version or "?",
            problem,
            f"serving {self._current.version}" if self._current else "no release to serve",
            wait,
        )

    def get(self) -> Artefacts:
        """The artefacts in service; ArtefactError (a 503) when no good release is loaded."""
        with self._lock:
            now = time.monotonic()
            if self._current is None or now - self._checked_at >= self.ttl:
                self._refresh(now)
                self._checked_at = now
            if self._current is None:
                # A new error each time: re-raising a stored one would keep every request's
                # frames alive through its traceback.
                raise ArtefactError(self._failed[1])
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
            try:
                tag = self._tag(path)
                cached = artefacts.files.get(relative)
                if cached is None or cached[0] != tag:
                    with self.fs.open(path, "rb") as handle:
                        cached = (tag, read(handle))
                    artefacts.files[relative] = cached
            except OSError as error:  # denied, throttled, gone meanwhile: a 503, not a 500
                raise ArtefactError(f"Cannot read {self.uri}/{relative}: {error}") from None
            return cached[1]

    def feature_state(self) -> dict[str, np.ndarray]:
        """The feature state the scheduled run last wrote (re-read when its ETag/mtime changes)."""
        return self._fresh(STATE_PATH, self._read_state)

    def _read_state(self, handle: Any) -> dict[str, np.ndarray]:
        """A stored state's arrays; never unpickled."""
        try:
            with np.load(io.BytesIO(handle.read()), allow_pickle=False) as npz:
                return {name: npz[name] for name in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise ArtefactError(
                f"{self.uri}/{STATE_PATH} is not a feature state ({str(error)[:200]}): rerun the"
                f" hourly `inference` or copy training's data/{STATE_PATH}"
            ) from None

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
