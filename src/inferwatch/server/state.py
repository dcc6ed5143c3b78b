"""``ServiceState``: everything one running service holds, on ``app.state.service``.

Routers added to the app read it with ``request.app.state.service`` (or the
``service_state`` helper). The monitor is shared by the flusher thread (writes) and the
event loop (snapshots): both go through ``monitor_lock``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import Scope

from inferwatch.alerts import AlertBook
from inferwatch.backends import ModelBackend
from inferwatch.core.monitor import Monitor
from inferwatch.core.schema import Batch, FeatureSchema
from inferwatch.core.snapshot import MonitorSnapshot
from inferwatch.exporter import ModelInfo, ServiceTotals
from inferwatch.modeldir import ModelBundle, ModelMetadata
from inferwatch.server.flusher import Flushed, Flusher, FlusherStopped, PredictionJob
from inferwatch.server.history import HistoryRing, Traffic, history_point
from inferwatch.server.middleware import HttpMetrics
from inferwatch.server.records import outcome_array, rebuild_batches, rebuild_labels
from inferwatch.server.security import TokenCheck
from inferwatch.settings import Settings
from inferwatch.store import LabelOutcome, PredictionStore

log = logging.getLogger(__name__)

INFERENCE_ERROR_TYPES: tuple[str, ...] = ("validation", "model", "upstream", "timeout", "store")
INFERENCE_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class InferenceMetrics:
    """Live counters of the model call, with the label children built once."""

    def __init__(self, registry: CollectorRegistry, model: str, version: str) -> None:
        self.duration_family = Histogram(
            "inferwatch_inference_duration_seconds",
            "Duration of the model call alone (local model or upstream request).",
            ("model", "model_version"),
            buckets=INFERENCE_BUCKETS,
            registry=registry,
        )
        self.rows_family = Counter(
            "inferwatch_inference_rows",
            "Rows scored by the model.",
            ("model", "model_version"),
            registry=registry,
        )
        self.errors_family = Counter(
            "inferwatch_inference_errors",
            "Failed inference requests by error type.",
            ("model", "model_version", "error_type"),
            registry=registry,
        )
        self._mv = (model, version)
        self.duration = self.duration_family.labels(model, version)
        self.rows = self.rows_family.labels(model, version)
        self.errors = {
            kind: self.errors_family.labels(model, version, kind) for kind in INFERENCE_ERROR_TYPES
        }

    def relabel(self, model: str, version: str) -> None:
        """Count under a new model version from now on (after a promotion)."""
        self._mv = (model, version)
        self.duration = self.duration_family.labels(model, version)
        self.rows = self.rows_family.labels(model, version)
        self.errors = {
            kind: self.errors_family.labels(model, version, kind) for kind in INFERENCE_ERROR_TYPES
        }

    def error(self, error_type: str) -> None:
        child = self.errors.get(error_type)
        if child is None:
            child = self.errors[error_type] = self.errors_family.labels(*self._mv, error_type)
        child.inc()


@dataclass
class _PendingMonitor:
    jobs: list[PredictionJob] = field(default_factory=list)
    outcomes: list[LabelOutcome] = field(default_factory=list)
    rows: int = 0
    since: float | None = None


@dataclass
class ServiceState:
    """The running service. Fields other routers may use:

    ``settings``, ``metadata`` (``ModelMetadata``), ``schema``, ``monitor`` (thread-safe),
    ``backend``, ``store``, ``flusher``, ``registry``, ``totals``, ``history``, ``token``
    (``TokenCheck``), ``alerts`` (the ``AlertBook`` the ``/alerts`` router fills),
    ``snapshot()`` (cached, thread-safe) and ``model_info()``.
    """

    settings: Settings
    metadata: ModelMetadata
    schema: FeatureSchema
    monitor: Monitor
    backend: ModelBackend
    store: PredictionStore
    registry: CollectorRegistry
    http: HttpMetrics
    inference: InferenceMetrics
    token: TokenCheck
    info: ModelInfo
    bundle: ModelBundle | None = None
    """The served model directory (the estimator too, for a local model): what retraining
    starts from."""
    task: str = "classification"
    accepts_missing: bool = False
    """Whether the model takes NaN inputs; if not, rows with missing numbers are refused."""
    clock: Callable[[], float] = time.time
    totals: ServiceTotals = field(default_factory=ServiceTotals)
    history: HistoryRing = field(default_factory=HistoryRing)
    traffic: Traffic = field(default_factory=Traffic)
    alerts: AlertBook | None = None
    flusher: Flusher | None = None
    started_at: float = 0.0
    rebuilt_rows: int = 0
    rebuilt_labels: int = 0
    snapshot_ttl: float = 0.25
    monitor_batch_rows: int = 256
    monitor_linger: float = 0.1
    _pending: _PendingMonitor = field(default_factory=lambda: _PendingMonitor())
    _cached: tuple[float, MonitorSnapshot] | None = None
    _last_sample: float = 0.0

    # --- lifecycle

    async def start(self) -> None:
        """Rebuild the windows from the store, then start the writer thread."""
        self.started_at = self.clock()
        await asyncio.to_thread(self.rebuild)
        self.flusher = Flusher(
            self.store,
            self.after_commit,
            on_idle=self.flush_monitor,
            linger=self.monitor_linger,
            clock=self.clock,
        )
        self.flusher.start()
        # Everything loaded so far (model, libraries, reference profile) lives as long as the
        # process: keep it out of the collector's full passes, which would otherwise walk it
        # all and stall requests for tens of milliseconds.
        gc.freeze()

    async def stop(self) -> None:
        if self.flusher is not None:
            await asyncio.to_thread(self.flusher.stop)
        await self.backend.aclose()
        self.store.close()

    def flusher_or_raise(self) -> Flusher:
        if self.flusher is None:
            raise FlusherStopped("the service is not started")
        return self.flusher

    @property
    def history_interval(self) -> float:
        return self.settings.history_interval_seconds

    async def history_loop(self) -> None:
        interval = self.history_interval
        self._last_sample = self.clock()
        self.traffic.take()
        while True:
            await asyncio.sleep(interval)
            try:
                self.sample_history()
            except Exception:  # a bad sample must not end the loop
                log.exception("history sample failed")

    async def retention_loop(self, every: float = 3600.0) -> None:
        """Purge rows older than the retention period, now and then every ``every`` seconds."""
        while True:
            cutoff = self.clock() - self.settings.retention_days * 86400.0
            try:
                removed = await asyncio.to_thread(self.store.purge, cutoff)
                if removed:
                    log.info("retention purge removed %s rows", removed)
            except Exception:
                log.exception("retention purge failed")
            await asyncio.sleep(every)

    def window_span(self) -> float:
        return self.settings.window_buckets * self.settings.bucket_seconds

    def rebuild(self) -> None:
        """Replay the last window span of predictions and labels from the store into the
        monitor, so a restart does not blind drift and accuracy."""
        now = self.clock()
        since = now - self.window_span()
        rows = self.store.recent_predictions(
            since, model=self.info.model, model_version=self.info.model_version
        )
        bucket = self.settings.bucket_seconds
        replay = rebuild_batches(self.schema, rows, self.task, bucket)
        for timestamp, batch, predictions, probabilities in replay:
            self.monitor.observe(batch, predictions, probabilities, timestamp)
            self.rebuilt_rows += len(predictions)
        labels = self.store.recent_labels(since, model=self.info.model)
        for timestamp, predicted, actual, delays in rebuild_labels(labels, self.task, bucket):
            self.monitor.record_outcomes(predicted, actual, timestamp, delays=delays)
            self.rebuilt_labels += len(predicted)
        self._cached = None
        if self.rebuilt_rows or self.rebuilt_labels:
            log.info(
                "rebuilt the window from the store: %s predictions, %s labels",
                self.rebuilt_rows,
                self.rebuilt_labels,
            )

    # --- read side

    def model_info(self) -> ModelInfo:
        return self.info

    def swap_model(self, bundle: ModelBundle) -> None:
        """Serve ``bundle`` from now on (a promoted model): its backend, schema and a fresh
        monitor whose reference is the new model's profile. Safe to call from any thread:
        each field is replaced by one assignment, and the old monitor's counts stay in the
        old version's series."""
        from inferwatch.backends.local import LocalModelBackend

        meta = bundle.metadata
        monitor = Monitor(
            bundle.schema,
            bundle.profile,
            self.monitor.config,
            model=meta.name,
            model_version=meta.version,
        )
        backend = LocalModelBackend(bundle)
        self.inference.relabel(meta.name, meta.version)
        self.schema = bundle.schema
        self.metadata = meta
        self.bundle = bundle
        self.info = replace(
            self.info,
            model_version=meta.version,
            reference_performance=dict(meta.reference_performance),
        )
        self.monitor = monitor
        self.backend = backend
        self._cached = None

    def snapshot(self) -> MonitorSnapshot:
        """The monitor's snapshot, reused for ``snapshot_ttl`` seconds (scrapes, API, history)."""
        now = self.clock()
        cached = self._cached
        if cached is not None and now - cached[0] < self.snapshot_ttl:
            return cached[1]
        snap = self.monitor.snapshot(now)
        self._cached = (now, snap)
        return snap

    def sample_history(self) -> None:
        """Append one history point (called every few seconds by ``history_loop``)."""
        now = self.clock()
        seconds = now - self._last_sample if self._last_sample else 0.0
        self._last_sample = now
        self.history.append(history_point(self.snapshot(), self.traffic.take(), seconds, now))

    async def readiness(self) -> dict[str, tuple[bool, str]]:
        """Named checks: the model answers, the store is writable, the writer runs."""
        checks: dict[str, tuple[bool, str]] = {}
        try:
            model_ok = await self.backend.ready()
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
        return checks

    def service_figures(self) -> dict[str, Any]:
        meta = self.metadata
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
                "stage": self.info.stage,
                "task": meta.task,
                "classes": meta.classes,
                "features": meta.feature_names,
                "reference_performance": meta.reference_performance,
                "backend": type(self.backend).__name__,
                "upstream_url": self.settings.upstream_url,
            },
            "started_at": self.started_at,
            "uptime_seconds": self.clock() - self.started_at if self.started_at else 0.0,
            "rebuilt": {"predictions": self.rebuilt_rows, "labels": self.rebuilt_labels},
            "feedback": feedback,
            "rejected_quality": rejected,
            "transactions": self.flusher.transactions if self.flusher else 0,
        }

    # --- counting refused requests

    def count_oversize(self, scope: Scope) -> None:
        """Called by the body limit for each 413 before the body was read."""
        path = scope.get("path", "")
        if path in ("/predict", "/invocations"):
            self.inference.error("validation")
        elif path == "/feedback":
            self.totals.add_feedback({"invalid": 1})

    # --- write side (flusher thread)

    def after_commit(self, flushed: Flushed) -> bool:
        """Collect one committed transaction for the monitor; returns True while some of it
        waits for a bigger batch (the flusher then calls ``flush_monitor`` when idle).

        Small transactions are pooled up to ``monitor_batch_rows`` rows or
        ``monitor_linger`` seconds, so the monitor's fixed cost per call is paid once per
        pool rather than once per request."""
        pending = self._pending
        if flushed.predictions:
            pending.jobs.extend(flushed.predictions)
            pending.rows += sum(len(j.predictions) for j in flushed.predictions)
        if flushed.outcomes:
            pending.outcomes.extend(flushed.outcomes)
        if not pending.jobs and not pending.outcomes:
            return False
        if pending.since is None:
            pending.since = flushed.timestamp
        full = pending.rows >= self.monitor_batch_rows or len(pending.outcomes) >= 512
        if full or flushed.timestamp - pending.since >= self.monitor_linger:
            self.flush_monitor()
            return False
        return True

    def flush_monitor(self) -> None:
        """Feed the pooled transactions to the monitor (flusher thread)."""
        pending = self._pending
        jobs, outcomes = pending.jobs, pending.outcomes
        self._pending = _PendingMonitor()
        now = self.clock()
        if jobs:
            if len(jobs) == 1:
                columns: dict[str, np.ndarray] = dict(jobs[0].batch)
                predictions = jobs[0].predictions
                probabilities = jobs[0].probabilities
            else:
                columns = {
                    name: np.concatenate([j.batch[name] for j in jobs]) for name in jobs[0].batch
                }
                predictions = np.concatenate([j.predictions for j in jobs])
                probs = [j.probabilities for j in jobs]
                probabilities = (
                    np.concatenate([p for p in probs if p is not None])
                    if all(p is not None for p in probs)
                    else None
                )
            batch: Mapping[str, np.ndarray] | Batch = columns
            if any(j.coerced for j in jobs):
                batch = Batch(columns, coerced_masks(jobs))
            self.monitor.observe(batch, predictions, probabilities, now)
            if probabilities is not None and probabilities.ndim == 2 and probabilities.size:
                with self.totals.lock:
                    self.totals.confidence.update_many(probabilities.max(axis=1))
        if outcomes:
            self.record_outcomes(outcomes, now)

    def record_outcomes(self, outcomes: Sequence[LabelOutcome], now: float) -> None:
        counts: dict[str, int] = {}
        matched_pred: list[Any] = []
        matched_label: list[Any] = []
        delays: list[float] = []
        for o in outcomes:
            counts[o.outcome] = counts.get(o.outcome, 0) + 1
            if o.outcome == "matched":
                matched_pred.append(o.prediction)
                matched_label.append(o.label)
                delays.append(o.delay_seconds or 0.0)
        self.totals.add_feedback(counts)
        if matched_pred:
            delay_arr = np.asarray(delays, dtype=np.float64)
            self.monitor.record_outcomes(
                outcome_array(matched_pred, self.task),
                outcome_array(matched_label, self.task),
                now,
                delays=delay_arr,
            )
            with self.totals.lock:
                self.totals.feedback_delay.update_many(delay_arr)


def coerced_masks(jobs: Sequence[PredictionJob]) -> dict[str, np.ndarray]:
    """The jobs' coerced-value masks, concatenated in job order (all ``False`` for a job
    without coerced values)."""
    names = {name for job in jobs if job.coerced for name in job.coerced}
    return {
        name: np.concatenate(
            [
                job.coerced[name]
                if job.coerced and name in job.coerced
                else np.zeros(len(job.rows), dtype=bool)
                for job in jobs
            ]
        )
        for name in names
    }


def service_state(request: Request) -> ServiceState:
    """The ``ServiceState`` of the app serving ``request`` (usable as a FastAPI dependency)."""
    state: ServiceState = request.app.state.service
    return state


__all__ = ["INFERENCE_ERROR_TYPES", "InferenceMetrics", "ServiceState", "service_state"]
