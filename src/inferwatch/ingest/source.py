"""Data sources the ingestion worker pulls from, and the metrics that describe them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SOURCE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0)


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


class SourceMetrics:
    """``inferwatch_source_*``: requests by status, latency and the last success time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "inferwatch_source_requests",
            "Requests to a data source, by HTTP status (or timeout, connect_error).",
            ("source", "status_code"),
            registry=registry,
        )
        self.duration = Histogram(
            "inferwatch_source_request_duration_seconds",
            "Latency of requests to a data source.",
            ("source",),
            buckets=SOURCE_BUCKETS,
            registry=registry,
        )
        self.last_success = Gauge(
            "inferwatch_source_last_success_timestamp_seconds",
            "Unix time of the last successful pull from a data source.",
            ("source",),
            registry=registry,
        )

    def prepare(self, source: str) -> None:
        """Pre-initialise the series of ``source`` so rates start from zero."""
        for status in ("200", "503"):
            self.requests.labels(source, status)
        self.duration.labels(source)
        self.last_success.labels(source)

    def record(self, source: str, status_code: str, seconds: float, now: float) -> None:
        self.requests.labels(source, status_code).inc()
        self.duration.labels(source).observe(seconds)
        if status_code.startswith("2"):
            self.last_success.labels(source).set(now)


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
