"""A read-only dataset that hands the monitoring webhook's credentials to the alert node.

Kedro resolves a catalog entry's `credentials:` key eagerly and fails every run when the key is
missing, so the committed catalog declares this dataset without credentials (alerts off) and an
environment that wants alerts overrides the entry to add `credentials: monitoring_webhook`
(see deploy/MONITORING.md). The URL is a secret: it is never part of the dataset's description.
"""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError


class WebhookConfigDataset(AbstractDataset[None, dict[str, Any]]):
    """Load the webhook settings ({} when no credentials are configured); saving is an error."""

    def __init__(
        self, credentials: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None
    ):
        self._credentials = dict(credentials or {})
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        """The credentials mapping, e.g. {"url": ...}; empty when none are configured."""
        return dict(self._credentials)

    def save(self, data: None) -> None:
        """Refuse: credentials come from configuration, never from a pipeline."""
        raise DatasetError("WebhookConfigDataset is read-only")

    def _describe(self) -> dict[str, Any]:
        """Whether a URL is configured, never the URL itself."""
        return {"configured": bool(self._credentials.get("url"))}
