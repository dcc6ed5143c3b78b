"""Retraining inside the service: by hand (``POST /api/retrain``) or when Alertmanager reports
one of ``INFERWATCH_RETRAIN_ON_ALERTS`` firing.

A run reads the labelled predictions of the last ``retrain_lookback_seconds`` from the store,
fits a candidate (``inferwatch.retrain.retrain``) in a worker thread and, when it wins,
saves it in the model registry and promotes it (``ServiceState.promote``: one new
``ServedModel`` with the backend, the schema and a fresh monitor whose reference is the
candidate's training rows). Runs are counted in
``inferwatch_retraining_runs_total{model,trigger,outcome}``; one runs at a time, and alert
triggers respect a cool-down.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter

from inferwatch.alerts import WebhookAlert
from inferwatch.retrain import (
    OUTCOMES,
    TRIGGERS,
    ModelRegistry,
    RetrainPolicy,
    RetrainResult,
    retrain,
)
from inferwatch.server.deps import require_token
from inferwatch.server.security import is_loopback
from inferwatch.server.served import ServedModel
from inferwatch.server.state import ServiceState
from inferwatch.settings import Settings

log = logging.getLogger(__name__)


class Retrainer:
    """Runs retraining for one service; ``state`` is its ``ServiceState``."""

    def __init__(
        self,
        state: ServiceState,
        settings: Settings,
        registry: CollectorRegistry,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.settings = settings
        self.clock = clock
        self.models = ModelRegistry(settings.data_dir / "registry")
        self.policy = RetrainPolicy(
            min_labels=settings.retrain_min_labels,
            holdout_share=settings.retrain_holdout_share,
            min_improvement=settings.retrain_min_improvement,
            reference_tolerance=settings.retrain_reference_tolerance,
        )
        self.runs = Counter(
            "inferwatch_retraining_runs",
            "Retraining runs by trigger and outcome (promoted, rejected, failed).",
            ("model", "trigger", "outcome"),
            registry=registry,
        )
        name = state.served.metadata.name
        for trigger in TRIGGERS:
            for outcome in OUTCOMES:
                self.runs.labels(name, trigger, outcome)
        self.history: deque[dict[str, Any]] = deque(maxlen=50)
        self._lock = threading.Lock()
        self._last_alert_run = float("-inf")
        self._tasks: set[asyncio.Task[RetrainResult | None]] = set()

    @property
    def running(self) -> bool:
        return self._lock.locked()

    @property
    def refusal(self) -> str | None:
        """Why retraining is off: a service reachable beyond this machine without a token
        would let anyone who can send labels and a request replace the model."""
        if is_loopback(self.settings.host) or self.state.token.enabled:
            return None
        return (
            f"retraining needs an API token when the service listens on {self.settings.host} "
            "(set INFERWATCH_API_TOKEN or INFERWATCH_API_TOKEN_FILE)"
        )

    def training_rows(
        self, served: ServedModel | None = None
    ) -> tuple[pd.DataFrame, pd.Series[Any]]:
        """The labelled rows of the lookback period for ``served`` (the current model by
        default)."""
        since = self.clock() - self.settings.retrain_lookback_seconds
        meta = (served or self.state.served).metadata
        rows = self.state.store.labelled_features(since, model=meta.name)
        names = meta.feature_names
        features = pd.DataFrame([r[0] for r in rows], columns=names)
        return features, pd.Series([r[1] for r in rows], dtype=object)

    def run(self, trigger: str) -> RetrainResult | None:
        """One run (blocking; call it in a worker thread). ``None`` if one is already running."""
        if not self._lock.acquire(blocking=False):
            return None
        started = self.clock()
        try:
            served = self.state.served
            bundle = served.bundle
            try:
                features, labels = self.training_rows(served)
                result, promoted = retrain(
                    bundle, features, labels, trigger=trigger, policy=self.policy
                )
                if promoted is not None:
                    self.models.promote(promoted)
                    self.state.promote(promoted)
            except Exception as exc:  # a broken run is counted and reported, never raised
                log.exception("retraining failed")
                meta = bundle.metadata
                result = RetrainResult(
                    "failed", trigger, meta.name, meta.version, None, "", None, None, 0, str(exc)
                )
            self.runs.labels(result.model, trigger, result.outcome).inc()
            entry = result.as_dict() | {"started_at": started, "finished_at": self.clock()}
            self.history.appendleft(entry)
            log.info("retraining %s: %s (%s)", result.outcome, result.reason, trigger)
            return result
        finally:
            self._lock.release()

    async def run_async(self, trigger: str) -> RetrainResult | None:
        return await asyncio.to_thread(self.run, trigger)

    def on_alerts(self, alerts: Sequence[WebhookAlert]) -> None:
        """Alertmanager listener: start a run when a configured alert fires."""
        wanted = set(self.settings.retrain_on_alerts)
        if not wanted or self.running:
            return
        if self.refusal is not None:
            log.warning("not retraining on alerts: %s", self.refusal)
            return
        names = {a.labels.get("alertname", "") for a in alerts if a.status == "firing"}
        if not names & wanted:
            return
        now = self.clock()
        if now - self._last_alert_run < self.settings.retrain_cooldown_seconds:
            return
        self._last_alert_run = now
        task = asyncio.get_running_loop().create_task(self.run_async("alert"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def retraining_router(retrainer: Retrainer) -> APIRouter:
    router = APIRouter(tags=["retraining"])

    @router.post(
        "/api/retrain",
        summary="Retrain on recent labelled traffic; promote the candidate if it wins",
        dependencies=[Depends(require_token)],
    )
    async def start(request: Request) -> JSONResponse:
        if retrainer.refusal is not None:
            return JSONResponse({"detail": retrainer.refusal}, 403)
        result = await retrainer.run_async("manual")
        if result is None:
            return JSONResponse({"detail": "a retraining run is already in progress"}, 409)
        return JSONResponse(result.as_dict())

    @router.get("/api/retraining", summary="Recent retraining runs and the serving version")
    async def runs() -> JSONResponse:
        meta = retrainer.state.served.metadata
        return JSONResponse(
            {
                "model": meta.name,
                "serving_version": meta.version,
                "running": retrainer.running,
                "versions": retrainer.models.versions(meta.name),
                "runs": list(retrainer.history),
            }
        )

    return router


__all__ = ["Retrainer", "retraining_router"]
