"""``ServiceState``: the composition root of one running service.

It holds the parts and wires them, nothing more: the current ``ServedModel`` (replaced in
one assignment by ``promote``), the store with its writer (``Flusher``) and the monitor
feed (``MonitorFeed``), the service counters (``ServiceTotals``, each counter with one
writer), the token check and the alert book. Routes receive it as a typed dependency
(``inferwatch.server.deps.Service``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.types import Scope

from inferwatch.alertbook import AlertBook
from inferwatch.backends import ModelBackend
from inferwatch.backends.upstream import redact_url
from inferwatch.core.snapshot import MonitorSnapshot
from inferwatch.exporter import ModelInfo, ServiceTotals
from inferwatch.lifecycle.modeldir import ModelBundle
from inferwatch.server.checkpoint import SnapshotChain
from inferwatch.server.feed import MonitorFeed
from inferwatch.server.flusher import Flusher, FlusherStopped
from inferwatch.server.history import HistoryRing, Traffic
from inferwatch.server.middleware import HttpMetrics
from inferwatch.server.rebuild import rebuild_monitor
from inferwatch.server.security import TokenCheck
from inferwatch.server.served import InferenceFamilies, ServedModel
from inferwatch.settings import Settings
from inferwatch.store import PredictionStore

log = logging.getLogger(__name__)

GC_YOUNG_THRESHOLD = 10_000
"""New containers between two collections of the youngest generation (Python's default
is 700); see ``ServiceState.start``."""


@dataclass
class ServiceState:
    """The running service.

    ``served`` is the model version served now: a request reads it once and uses only that
    value. The event loop writes ``totals.feedback`` and ``totals.rejected_quality``; the
    feed thread writes ``totals.feedback_delay`` (the confidence histogram is the monitor's).
    """

    settings: Settings
    served: ServedModel
    store: PredictionStore
    registry: CollectorRegistry
    http: HttpMetrics
    families: InferenceFamilies
    token: TokenCheck
    feed: MonitorFeed
    alerts: AlertBook = field(default_factory=AlertBook)
    clock: Callable[[], float] = time.time
    totals: ServiceTotals = field(default_factory=ServiceTotals)
    history: HistoryRing = field(default_factory=HistoryRing)
    traffic: Traffic = field(default_factory=Traffic)
    flusher: Flusher | None = None
    started_at: float = 0.0
    rebuilt_rows: int = 0
    rebuilt_labels: int = 0
    rebuilt: bool = False
    """Whether the window has been rebuilt from the store since the start."""
    rebuilding: asyncio.Task[None] | None = None
    snapshots: SnapshotChain | None = None
    """Saves the window snapshots a restart starts from (see ``server.checkpoint``)."""
    snapshot_ttl: float = 0.25
    _cached: tuple[ServedModel, float, MonitorSnapshot] | None = None

    # --- lifecycle

    async def start(self) -> None:
        """Start the feed and the writer, and rebuild the window from the store in a thread
        meanwhile: the service answers at once, ``/readyz`` says "window" false until the
        rebuild is done. The rebuild reads only what was stored before the start (a mark
        taken before the writer runs), so new predictions are not counted twice."""
        self.started_at = now = self.clock()
        mark = await asyncio.to_thread(self.store.last_batch)
        self.snapshots = SnapshotChain(self.store, self.clock)
        self.snapshots.begin(mark, now)
        self.feed.snapshots = self.snapshots
        self.feed.start()
        self.flusher = Flusher(self.store, self.feed.put, clock=self.clock)
        self.flusher.start()
        self.rebuilding = asyncio.create_task(self._rebuild(now, mark))

    async def _rebuild(self, now: float, mark: int) -> None:
        try:
            rows, labels = await asyncio.to_thread(
                rebuild_monitor, self.served, self.store, self.settings, now, mark
            )
            self.rebuilt_rows, self.rebuilt_labels = rows, labels
            if self.snapshots is not None:  # the window is whole: snapshots may start
                self.snapshots.arm(self.served.monitor)
                self.feed.save_snapshot()
        except Exception:  # the service runs on; the window holds what comes in from now
            log.exception("rebuilding the window from the store failed")
        self._cached = None
        self.rebuilt = True
        # Everything loaded so far (model, libraries, reference profile) lives as long as the
        # process: keep it out of the collector's full passes, which would otherwise walk it
        # all and stall requests for tens of milliseconds.
        gc.freeze()
        # A batch request makes thousands of short-lived containers (a parsed body, label
        # rows, the store's result rows); collecting the young generation every 700 of
        # them took a tenth of the service's CPU under label traffic. Every 10,000 costs a
        # third of that and holds no more than a few megabytes meanwhile.
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])

    async def stop(self) -> None:
        if self.rebuilding is not None:
            await asyncio.gather(self.rebuilding, return_exceptions=True)
        if self.flusher is not None:
            await asyncio.to_thread(self.flusher.stop)
        await asyncio.to_thread(self.feed.stop)
        await self.served.backend.aclose()
        self.store.close()

    def flusher_or_raise(self) -> Flusher:
        if self.flusher is None:
            raise FlusherStopped("the service is not started")
        return self.flusher

    # --- the served model

    def promote(self, bundle: ModelBundle, backend: ModelBackend | None = None) -> ServedModel:
        """Serve ``bundle`` from now on (a model promoted by retraining): one assignment.
        Requests in flight finish with the version they read; the old version's counts stay
        in its own series. Safe from any thread."""
        if backend is None:
            from inferwatch.backends.local import LocalModelBackend

            backend = LocalModelBackend(bundle)
        served = self.served.promoted(bundle, backend, self.families)
        self.served = served
        return served

    def model_info(self) -> ModelInfo:
        return self.served.info

    def snapshot(self) -> MonitorSnapshot:
        """The current monitor's snapshot, reused for ``snapshot_ttl`` seconds (scrapes, API,
        history)."""
        served, now = self.served, self.clock()
        cached = self._cached
        if cached is not None and cached[0] is served and now - cached[1] < self.snapshot_ttl:
            return cached[2]
        snap = served.monitor.snapshot(now)
        self._cached = (served, now, snap)
        return snap

    # --- figures

    async def readiness(self) -> dict[str, tuple[bool, str]]:
        """Named checks: the model answers, the store is writable, the writer runs."""
        checks: dict[str, tuple[bool, str]] = {}
        try:
            model_ok = await self.served.backend.ready()
            checks["model"] = (model_ok, "ok" if model_ok else "model not reachable")
        except Exception as exc:
            checks["model"] = (False, str(exc))
        try:
            store_ok = await asyncio.to_thread(self.store.writable)
            checks["store"] = (store_ok, "ok" if store_ok else "store not writable")
        except Exception as exc:
            checks["store"] = (False, str(exc))
        running = self.flusher is not None and self.flusher.running
        checks["writer"] = (running, "ok" if running else "writer thread not running")
        checks["window"] = (self.rebuilt, "ok" if self.rebuilt else "rebuilding from the store")
        return checks

    def service_figures(self) -> dict[str, Any]:
        served = self.served
        meta = served.metadata
        with self.totals.lock:
            feedback = dict(self.totals.feedback)
            rejected = [
                {"feature": f, "check": c, "count": n}
                for (f, c), n in self.totals.rejected_quality.items()
            ]
        return {
            "model": {
                "name": meta.name,
                "version": meta.version,
                "stage": served.info.stage,
                "task": meta.task,
                "classes": meta.classes,
                "features": meta.feature_names,
                "reference_performance": meta.reference_performance,
                "backend": type(served.backend).__name__,
                "upstream_url": redact_url(self.settings.upstream_url),
            },
            "started_at": self.started_at,
            "uptime_seconds": self.clock() - self.started_at if self.started_at else 0.0,
            "rebuilt": {"predictions": self.rebuilt_rows, "labels": self.rebuilt_labels},
            "feedback": feedback,
            "rejected_quality": rejected,
            "transactions": self.flusher.transactions if self.flusher else 0,
        }

    def count_oversize(self, scope: Scope) -> None:
        """Called by the body limit (event loop) for each 413 before the body was read."""
        path = scope.get("path", "")
        if path in ("/predict", "/invocations"):
            self.served.inference.error("validation")
        elif path == "/feedback":
            self.totals.add_feedback({"invalid": 1})


__all__ = ["ServiceState"]
