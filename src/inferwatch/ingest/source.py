"""Data sources the ingestion worker pulls from, and the metrics that describe them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from inferwatch.ingest.metrics import SourceMetrics


@dataclass(frozen=True)
class Page:
    """One pull from a source: the records and the cursor to ask for next."""

    records: list[dict[str, Any]]
    cursor: str | None


class SourceError(Exception):
    """A pull failed; ``status_code`` is the HTTP status, or a word for transport failures."""

    def __init__(self, status_code: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


class DataSource(Protocol):
    name: str

    async def fetch(self, cursor: str | None, limit: int) -> Page: ...


class HttpDataSource:
    """A data lake that answers ``GET <url>?cursor=C&limit=N`` with
    ``{"records": [...], "next_cursor": "..."}``."""

    def __init__(
        self,
        url: str,
        *,
        name: str = "datalake",
        metrics: SourceMetrics,
        client: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.name = name
        self.metrics = metrics
        self.client = client
        self.clock = clock
        metrics.prepare(name)

    async def fetch(self, cursor: str | None, limit: int) -> Page:
        params: dict[str, str | int] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        start = time.perf_counter()
        try:
            response = await self.client.get(self.url, params=params)
        except httpx.TimeoutException as exc:
            self._record("timeout", start)
            raise SourceError("timeout", f"{self.name}: timed out: {exc}") from exc
        except httpx.TransportError as exc:
            self._record("connect_error", start)
            raise SourceError("connect_error", f"{self.name}: unreachable: {exc}") from exc
        self._record(str(response.status_code), start)
        if response.status_code != 200:
            raise SourceError(
                str(response.status_code), f"{self.name}: HTTP {response.status_code}"
            )
        try:
            body = response.json()
            records = body["records"]
            next_cursor = body.get("next_cursor")
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceError("200", f"{self.name}: unreadable page: {exc}") from exc
        if not isinstance(records, list):
            raise SourceError("200", f"{self.name}: 'records' is not a list")
        return Page(records=records, cursor=None if next_cursor is None else str(next_cursor))

    def _record(self, status: str, start: float) -> None:
        self.metrics.record(self.name, status, time.perf_counter() - start, self.clock())


__all__ = ["DataSource", "HttpDataSource", "Page", "SourceError", "SourceMetrics"]
