"""Many models in one service: ``--models-dir`` (``INFERWATCH_MODELS_DIR``).

Every subdirectory holding a ``metadata.json`` is a model directory. Each gets a complete
single-model service (``create_app``: its own served model, monitor, store under
``<data_dir>/<dir name>``, writer, metrics) mounted at ``/models/<name>``, so
``/models/<name>/predict``, ``/models/<name>/log``, ``/models/<name>/feedback`` and the rest
work as in the single-model case. The service itself answers:

- ``POST /feedback``: labels by prediction id, whichever model made the prediction (each
  label goes to the model whose store holds its id; ids no model knows are ``unknown_id``);
- ``/v2/...``: the Open Inference Protocol, models by name;
- ``GET /metrics``: every model's families in one exposition, each sample labelled by model
  (the HTTP and system families get the ``model`` label of the model service they come from);
- ``GET /api/models``: the models (the dashboard's model picker); ``GET /dashboard`` opens the
  first model's dashboard; ``/healthz`` and ``/readyz`` over all models.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from inferwatch.lifecycle.modeldir import METADATA_FILE, ModelDirError
from inferwatch.server.deps import app_service
from inferwatch.server.feedback import results_mode, unmatched
from inferwatch.server.inputs import Rejected, loads
from inferwatch.server.responses import FEEDBACK_RESULTS, json_response
from inferwatch.server.security import TokenCheck
from inferwatch.server.served import ServedModel
from inferwatch.server.state import ServiceState
from inferwatch.server.v2 import v2_router
from inferwatch.settings import Settings


class MergedCollector(Collector):
    """The families of several models' registries as one exposition: samples of a family
    name are gathered under one family. An ``inferwatch_`` sample without a ``model`` label
    (HTTP and system figures) gets its model's; any other sample repeated with the same labels
    (the process figures every model's registry reports) is kept once."""

    def __init__(self, registries: Mapping[str, CollectorRegistry]) -> None:
        self.registries = dict(registries)

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for model, registry in self.registries.items():
            for family in registry.collect():
                merged = families.get(family.name)
                if merged is None:
                    merged = Metric(family.name, family.documentation, family.type, family.unit)
                    families[family.name] = merged
                ours = family.name.startswith("inferwatch_")
                for sample in family.samples:
                    if ours and "model" not in sample.labels:
                        sample = sample._replace(labels={**sample.labels, "model": model})
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    if key not in seen:
                        seen.add(key)
                        merged.samples.append(sample)
        return list(families.values())


def _models(request: Request) -> dict[str, ServiceState]:
    models: dict[str, ServiceState] = request.app.state.models
    return models


def _lookup(request: Request, name: str) -> tuple[ServiceState, ServedModel] | None:
    state = _models(request).get(name)
    return None if state is None else (state, state.served)


def _states(request: Request) -> list[ServiceState]:
    return list(_models(request).values())


def _guard(request: Request) -> None:
    token: TokenCheck = request.app.state.token
    token.enforce(request)


def load_models(settings: Settings) -> dict[str, FastAPI]:
    """One single-model app per model directory under ``settings.models_dir``, by name."""
    from inferwatch.server.app import create_app

    root = settings.models_dir
    assert root is not None
    if not root.is_dir():
        raise ModelDirError(root, "not a directory of model directories")
    apps: dict[str, FastAPI] = {}
    for path in sorted(p for p in root.iterdir() if (p / METADATA_FILE).is_file()):
        one = settings.model_copy(
            update={
                "model_dir": path,
                "data_dir": settings.data_dir / path.name,
                "models_dir": None,
            }
        )
        app = create_app(one)
        name = app_service(app).served.info.model
        if name in apps:
            raise ModelDirError(path, f"a second model named {name!r}")
        apps[name] = app
    if not apps:
        raise ModelDirError(root, f"no model directories (subdirectories with {METADATA_FILE})")
    return apps


async def _owner(states: dict[str, ServiceState], pid: Any) -> str | None:
    if not isinstance(pid, str):
        return None
    for name, state in states.items():  # one store per model, or one shared by all
        stored = await asyncio.to_thread(state.store.get, pid)
        if stored is not None:
            return stored.model if stored.model in states else name
    return None


async def _forward(
    app: FastAPI, body: Any, headers: dict[str, str], mode: str = "all"
) -> tuple[int, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://model") as client:
        answer = await client.post(
            "/feedback", json=body, headers=headers, params={"results": mode}
        )
    return answer.status_code, answer.json()


async def feedback(request: Request, apps: dict[str, FastAPI]) -> Response:
    """Send each label to the model that made its prediction; answer as ``/feedback`` does."""
    states = _models(request)
    mode = results_mode(request)
    if isinstance(mode, Response):
        return mode
    try:
        data = loads(await request.body())
    except Rejected as exc:
        return json_response(exc.body(), exc.status)
    auth = request.headers.get("authorization")
    headers = {"authorization": auth} if auth else {}
    first = next(iter(apps))
    if not (isinstance(data, dict) and isinstance(data.get("labels"), list)):
        pid = data.get("id") if isinstance(data, dict) else None
        app = apps[await _owner(states, pid) or first]
        status, body = await _forward(app, data, headers, mode)
        return json_response(body, status)
    items = data["labels"]
    groups: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        owner = await _owner(states, item.get("id") if isinstance(item, dict) else None)
        groups.setdefault(owner or first, []).append(i)
    results: list[Any] = [None] * len(items)
    for name, indexes in groups.items():
        status, body = await _forward(apps[name], {"labels": [items[i] for i in indexes]}, headers)
        if status != 200:
            return json_response(body, status)
        for i, result in zip(indexes, body["results"], strict=True):
            results[i] = result
    counts: dict[str, int] = {}
    for r in results:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    listed = results if mode == "all" else unmatched(results)
    return json_response({"results": listed, "counts": counts})


_Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _lifespan(
    apps: Mapping[str, FastAPI],
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan that enters every model app's own lifespan, and leaves them in reverse."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for app in apps.values():
                await stack.enter_async_context(app.router.lifespan_context(app))
            yield

    return lifespan


def _add_routes(
    root: FastAPI,
    apps: dict[str, FastAPI],
    states: Mapping[str, ServiceState],
    registry: CollectorRegistry,
) -> None:
    """The routes that span every model: feedback, metrics, the model list and health."""

    @root.post(
        "/feedback",
        summary="Labels by id, whichever model made the prediction",
        openapi_extra={"parameters": [FEEDBACK_RESULTS]},
    )
    async def feedback_route(request: Request, _: None = Depends(_guard)) -> Response:
        return await feedback(request, apps)

    @root.get("/metrics", summary="Prometheus metrics of every model")
    def metrics(request: Request) -> Response:
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(registry), headers={"content-type": content_type})

    @root.get("/api/models", summary="The models this service watches")
    def models() -> Response:
        listed = [
            {
                "name": name,
                "version": s.served.info.model_version,
                "task": s.served.task,
                "url": f"/models/{name}",
            }
            for name, s in states.items()
        ]
        return json_response({"models": listed})

    @root.get("/dashboard", include_in_schema=False)
    def dashboard() -> RedirectResponse:
        return RedirectResponse(f"/models/{next(iter(apps))}/dashboard")

    @root.get("/healthz", summary="Liveness")
    def healthz() -> Response:
        return json_response({"status": "ok", "models": list(apps)})

    @root.get("/readyz", summary="Readiness of every model")
    async def readyz() -> Response:
        ready = {}
        for name, state in states.items():
            checks = await state.readiness()
            ready[name] = all(ok for ok, _ in checks.values())
        ok = all(ready.values())
        return json_response(
            {"status": "ready" if ok else "not ready", "models": ready}, 200 if ok else 503
        )


def create_multi_app(settings: Settings, *, registry: CollectorRegistry | None = None) -> FastAPI:
    apps = load_models(settings)
    states = {name: app_service(app) for name, app in apps.items()}
    registry = registry if registry is not None else CollectorRegistry()
    registry.register(MergedCollector({name: s.registry for name, s in states.items()}))
    root = FastAPI(
        title="inferwatch",
        summary="Several models served and watched: /models/<name>/..., /v2/models/<name>/...",
        lifespan=_lifespan(apps),
    )
    root.state.models = states
    root.state.token = TokenCheck(settings.resolved_api_token())
    root.include_router(v2_router(_lookup, _states, _guard))
    _add_routes(root, apps, states, registry)
    for name, app in apps.items():
        root.mount(f"/models/{name}", app)
    return root


__all__ = ["MergedCollector", "create_multi_app", "load_models"]
