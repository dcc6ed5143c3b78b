"""``IngestionWorker``: poll a data source and score what it returns through the service."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from inferwatch.ingest.source import DataSource, SourceError

log = logging.getLogger(__name__)

OUTAGE_LOG_SECONDS = 60.0
"""While a source keeps failing, the worker logs it again this often (not at every poll)."""


@dataclass
class _Outage:
    started: float
    logged: float
    tries: int = 1


@dataclass
class IngestStats:
    pulls: int = 0
    failed_pulls: int = 0
    rows: int = 0
    scored: int = 0
    rejected: int = 0
    labels: int = 0


class IngestionWorker:
    """Pulls pages from ``source`` every ``poll_seconds`` and posts them to ``/predict``.

    A record's ``label_field`` (when present) is the ground truth: it is removed from the
    features and sent to ``/feedback`` with the prediction id once the row is scored. A failed
    pull is measured by the source's metrics and retried at the next poll; the cursor only
    moves forward after the rows were scored, so an outage loses nothing.
    """

    def __init__(
        self,
        source: DataSource,
        client: httpx.AsyncClient,
        *,
        service_url: str,
        poll_seconds: float = 5.0,
        batch_size: int = 100,
        label_field: str | None = "label",
        token: str | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.source = source
        self.client = client
        self.service_url = service_url.rstrip("/")
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.label_field = label_field
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.sleep = sleep
        self.cursor: str | None = None
        self.stats = IngestStats()
        self._outage: _Outage | None = None

    async def run(self, duration: float | None = None) -> IngestStats:
        """Poll until ``duration`` seconds have passed (forever when ``None``)."""
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            await self.poll_once()
            await self.sleep(self.poll_seconds)
        return self.stats

    async def poll_once(self) -> int:
        """One pull and its scoring; returns the rows scored."""
        self.stats.pulls += 1
        try:
            page = await self.source.fetch(self.cursor, self.batch_size)
        except SourceError as exc:
            self.stats.failed_pulls += 1
            self._failing(str(exc))
            return 0
        self._recovered()
        if not page.records:
            return 0
        self.stats.rows += len(page.records)
        scored = await self._score(page.records)
        self.cursor = page.cursor
        return scored

    def _failing(self, error: str) -> None:
        """Log an outage once, then once a minute while it lasts (each pull still counts in
        the stats and the source metrics), not once a poll."""
        now = time.monotonic()
        outage = self._outage
        if outage is None:
            self._outage = _Outage(now, now)
            log.warning("pull failed: %s (retrying every %gs)", error, self.poll_seconds)
            return
        outage.tries += 1
        if now - outage.logged >= OUTAGE_LOG_SECONDS:
            outage.logged = now
            log.warning(
                "pull still failing after %d tries in %.0fs: %s",
                outage.tries,
                now - outage.started,
                error,
            )

    def _recovered(self) -> None:
        outage = self._outage
        if outage is not None:
            log.warning(
                "pull works again after %d failed tries in %.0fs",
                outage.tries,
                time.monotonic() - outage.started,
            )
            self._outage = None

    async def _score(self, records: list[dict[str, Any]]) -> int:
        labels: list[Any] = []
        features: list[dict[str, Any]] = []
        for record in records:
            row = dict(record)
            labels.append(row.pop(self.label_field, None) if self.label_field else None)
            features.append(row)
        try:
            response = await self.client.post(
                f"{self.service_url}/predict", json={"instances": features}, headers=self.headers
            )
        except httpx.HTTPError as exc:
            log.warning("service unreachable: %s", exc)
            self.stats.rejected += len(records)
            return 0
        if response.status_code != 200:
            log.warning("service refused a batch: %s %s", response.status_code, response.text)
            self.stats.rejected += len(records)
            return 0
        ids = response.json()["ids"]
        self.stats.scored += len(ids)
        feedback = [
            {"id": pid, "label": label}
            for pid, label in zip(ids, labels, strict=True)
            if label is not None
        ]
        if feedback:
            answer = await self.client.post(
                f"{self.service_url}/feedback", json={"labels": feedback}, headers=self.headers
            )
            if answer.status_code == 200:
                self.stats.labels += len(feedback)
        return len(ids)


__all__ = ["IngestStats", "IngestionWorker"]
