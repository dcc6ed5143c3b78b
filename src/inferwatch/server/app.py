"""The FastAPI application: ``create_app(settings)``.

Routers of other parts are included here, one line each. A route receives the running
service as ``state: inferwatch.server.deps.Service`` (a ``ServiceState``); protected routers
add ``dependencies=[Depends(inferwatch.server.deps.require_token)]`` (``/predict`` and
``/invocations`` are decorated with ``inferwatch.server.deps.checks_token`` instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from fastapi import Depends, FastAPI
from prometheus_client import CollectorRegistry, ProcessCollector

from inferwatch.alertbook import AlertBook
from inferwatch.backends import ModelBackend, backend_from_settings
from inferwatch.core.monitor import MonitorConfig
from inferwatch.exporter import MonitorCollector, ServiceTotals
from inferwatch.integrations.kserve import PendingHalves
from inferwatch.lifecycle.modeldir import load_model_dir
from inferwatch.lifecycle.retrain import ModelRegistry
from inferwatch.server import openapi
from inferwatch.server.alerts import alerts_router
from inferwatch.server.background import HistorySampler, retention_loop
from inferwatch.server.dashboard import dashboard_router
from inferwatch.server.deps import attach_service, require_token
from inferwatch.server.feed import MonitorFeed
from inferwatch.server.feedback import feedback_router
from inferwatch.server.history import HistoryRing
from inferwatch.server.logmode import PendingHalvesCollector, log_router
from inferwatch.server.middleware import (
    BodyLimitMiddleware,
    HttpMetrics,
    MetricsMiddleware,
    route_table,
)
from inferwatch.server.ops import ops_router
from inferwatch.server.predict import predict_router
from inferwatch.server.retraining import Retrainer, retraining_router
from inferwatch.server.security import TokenCheck
from inferwatch.server.served import InferenceFamilies, ServedModel
from inferwatch.server.state import ServiceState
from inferwatch.server.v2 import v2_router
from inferwatch.settings import Settings
from inferwatch.store import open_store
from inferwatch.system import SystemCollector

log = logging.getLogger(__name__)

MODEL_ROUTES = frozenset(
    {
        "/predict",
        "/invocations",
        "/log",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
    }
)
PRECOUNTED_ROUTES = MODEL_ROUTES | {"/feedback"}


def _known_status_codes() -> tuple[int, ...]:
    return (200, 400, 401, 404, 409, 413, 422, 502, 503, 504)


def served_model(
    settings: Settings, backend: ModelBackend | None, families: InferenceFamilies
) -> ServedModel:
    """The model the settings describe (the registry's promoted version if there is one),
    scored by ``backend`` or by the backend the settings describe."""
    load_model = backend is None and settings.upstream_url is None
    bundle = load_model_dir(settings.model_dir, load_model=load_model)
    load_model = load_model and bundle.model is not None
    if load_model:
        # a model promoted by retraining is served after a restart too
        promoted = ModelRegistry(settings.data_dir / "registry").load_current(bundle.metadata.name)
        bundle = promoted or bundle
    if backend is None:
        backend = backend_from_settings(settings, bundle)
    config = MonitorConfig.from_settings(
        settings, per_feature_thresholds=dict(bundle.metadata.thresholds)
    )
    return ServedModel.build(
        bundle,
        backend,
        stage=settings.model_stage,
        config=config,
        families=families,
        accepts_missing=settings.accept_missing_values,
    )


def build_state(
    settings: Settings, backend: ModelBackend | None, registry: CollectorRegistry
) -> ServiceState:
    """The service's parts, wired, and its collectors registered in ``registry``."""
    families = InferenceFamilies(registry)
    served = served_model(settings, backend, families)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    totals = ServiceTotals()
    state = ServiceState(
        settings=settings,
        served=served,
        store=open_store(settings.resolved_store_url(), password_file=settings.store_password_file),
        registry=registry,
        http=HttpMetrics(registry),
        families=families,
        token=TokenCheck(settings.resolved_api_token()),
        feed=MonitorFeed(totals, time.time, linger=settings.monitor_linger_seconds),
        alerts=AlertBook(),
        totals=totals,
        history=HistoryRing(settings.history_points),
    )
    registry.register(MonitorCollector(state))
    registry.register(SystemCollector(settings.data_dir))
    ProcessCollector(registry=registry)
    return state


def _lifespan(state: ServiceState) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.start()
        tasks = [
            asyncio.create_task(HistorySampler(state).run()),
            asyncio.create_task(retention_loop(state)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await state.stop()

    return lifespan


def _include_routers(app: FastAPI, state: ServiceState) -> None:
    settings, registry = state.settings, state.registry
    app.include_router(predict_router())
    app.include_router(feedback_router())
    halves = PendingHalves()
    registry.register(PendingHalvesCollector(halves, state))
    app.include_router(log_router(halves))
    app.include_router(v2_router())
    app.include_router(ops_router())
    retrainer = Retrainer(state, settings, registry)
    app.include_router(
        alerts_router(
            state.alerts,
            registry=registry,
            listeners=[retrainer.on_alerts],
            webhook_dependencies=[Depends(require_token)],
        )
    )
    app.include_router(retraining_router(retrainer))
    app.include_router(dashboard_router(settings))
    openapi.install(app, lambda: state.served, settings.max_batch_rows, state.token.enabled)


def _add_middleware(app: FastAPI, state: ServiceState) -> None:
    table = route_table(app.routes)
    precounted = [(m, p) for p, methods in table if p in PRECOUNTED_ROUTES for m in sorted(methods)]
    state.http.preinit(precounted, _known_status_codes())
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=state.settings.max_body_bytes,
        on_reject=state.count_oversize,
    )
    app.add_middleware(
        MetricsMiddleware,
        metrics=state.http,
        known_paths=frozenset(path for path, _ in table),
        traffic=state.traffic.add,
        traffic_paths=MODEL_ROUTES,
    )


def create_app(
    settings: Settings,
    *,
    backend: ModelBackend | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """Build the service for ``settings``.

    ``backend`` replaces the one the settings describe (a local model directory or an
    upstream URL); ``registry`` receives every metric (a fresh one by default, never the
    global registry).
    """
    if settings.models_dir is not None:
        from inferwatch.server.multi import create_multi_app

        return create_multi_app(settings, registry=registry)
    state = build_state(
        settings, backend, registry if registry is not None else CollectorRegistry()
    )
    app = FastAPI(
        title="inferwatch",
        summary="Model serving with monitoring: drift, data quality, accuracy, Prometheus.",
        version=state.served.info.model_version,
        lifespan=_lifespan(state),
    )
    attach_service(app, state)
    _include_routers(app, state)
    _add_middleware(app, state)
    return app


__all__ = ["build_state", "create_app", "served_model"]
