"""``StreamWorker``: take deliveries from a streaming source, store them, then acknowledge.

The loop is the same for lake files and MQTT topics: wait for a delivery, hand it to the
service (``ServiceSink``), and only when the service answered that the rows are stored call
``delivery.commit()`` (the lake cursor moves, the MQTT messages are acknowledged). While the
service is down the same delivery is retried with backoff; nothing is committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from inferwatch.ingest.delivery import Delivery, StreamSource
from inferwatch.ingest.metrics import SourceMetrics
from inferwatch.ingest.service import ServiceSink, SinkUnavailable

log = logging.getLogger(__name__)


@dataclass
class StreamStats:
    deliveries: int = 0
    rows: int = 0
    stored: int = 0
    service_retries: int = 0


class StreamWorker:
    def __init__(
        self,
        source: StreamSource,
        sink: ServiceSink,
        metrics: SourceMetrics,
        *,
        wait_seconds: float = 1.0,
        max_backoff: float = 30.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.source = source
        self.sink = sink
        self.metrics = metrics
        self.wait_seconds = wait_seconds
        self.max_backoff = max_backoff
        self.clock = clock
        self.sleep = sleep
        self.stats = StreamStats()

    async def run(self, duration: float | None = None, stop: asyncio.Event | None = None) -> None:
        """Deliver until ``duration`` seconds passed or ``stop`` is set (forever otherwise)."""
        deadline = None if duration is None else time.monotonic() + duration
        await self.source.start()
        try:
            while (deadline is None or time.monotonic() < deadline) and not (
                stop is not None and stop.is_set()
            ):
                await self.step()
        finally:
            await self.source.close()

    async def step(self) -> int:
        """Wait for one delivery and see it stored and committed; returns rows stored."""
        self.metrics.lag.labels(self.source.name).set(self.source.lag(self.clock()))
        delivery = await self.source.next(self.wait_seconds)
        if delivery is None:
            return 0
        self.stats.deliveries += 1
        self.stats.rows += len(delivery.records)
        stored = await self._deliver(delivery)
        delivery.commit()
        self.stats.stored += stored
        self.metrics.stored(self.source.name, stored)
        self.metrics.lag.labels(self.source.name).set(self.source.lag(self.clock()))
        return stored

    async def _deliver(self, delivery: Delivery) -> int:
        delay = 0.25
        while True:
            try:
                return await self.sink.deliver(delivery)
            except SinkUnavailable as exc:
                self.stats.service_retries += 1
                log.warning("service unavailable (%s); retrying in %.1fs", exc, delay)
                await self.sleep(delay)
                delay = min(delay * 2, self.max_backoff)


__all__ = ["StreamStats", "StreamWorker"]
