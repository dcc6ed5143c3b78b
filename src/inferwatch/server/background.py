"""The service's background loops: the history sampler and the retention purge."""

from __future__ import annotations

import asyncio
import logging

from inferwatch.server.history import history_point
from inferwatch.server.state import ServiceState

log = logging.getLogger(__name__)


class HistorySampler:
    """Appends one history point every ``settings.history_interval_seconds``."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self._last = 0.0

    def sample(self) -> None:
        state = self.state
        now = state.clock()
        seconds = now - self._last if self._last else 0.0
        self._last = now
        state.history.append(history_point(state.snapshot(), state.traffic.take(), seconds, now))

    async def run(self) -> None:
        state = self.state
        self._last = state.clock()
        state.traffic.take()
        while True:
            await asyncio.sleep(state.settings.history_interval_seconds)
            try:
                self.sample()
            except Exception:  # a bad sample must not end the loop
                log.exception("history sample failed")


async def retention_loop(state: ServiceState, every: float = 3600.0) -> None:
    """Purge rows older than the retention period, now and then every ``every`` seconds."""
    while True:
        cutoff = state.clock() - state.settings.retention_days * 86400.0
        try:
            removed = await asyncio.to_thread(state.store.purge, cutoff)
            if removed:
                log.info("retention purge removed %s rows", removed)
        except Exception:
            log.exception("retention purge failed")
        await asyncio.sleep(every)


__all__ = ["HistorySampler", "retention_loop"]
