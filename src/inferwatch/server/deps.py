"""Typed FastAPI dependencies: the running service and the token check.

A route takes ``state: Service`` to receive the ``ServiceState`` (code holding the app
rather than a request calls :func:`app_service`); a protected router (or
route) adds ``dependencies=[Depends(require_token)]``, the way the token is checked, save
on ``/predict`` and ``/invocations``: decorated with :func:`checks_token`, which checks it first.
The routes every prediction or label goes through (``/predict``, ``/invocations``,
``/feedback``, ``/log``) read the service with ``app_service(request.app)`` instead of
``Service``: FastAPI's resolution of a dependency costs a few percent of a single-row
request.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Request
from starlette.applications import Starlette

from inferwatch.server.state import ServiceState


def attach_service(app: Starlette, state: ServiceState) -> None:
    """Make ``state`` the ``ServiceState`` of ``app`` (``create_app`` does, once)."""
    app.state.service = state


def app_service(app: Starlette) -> ServiceState:
    """The ``ServiceState`` of ``app``: the one place it is read, for routes (through
    :data:`Service`), the many-models app and the worker processes alike."""
    state = getattr(app.state, "service", None)
    if not isinstance(state, ServiceState):
        raise RuntimeError("the app has no ServiceState (build it with create_app)")
    return state


async def service_state(request: Request) -> ServiceState:
    """The ``ServiceState`` of the app serving ``request``. Both dependencies are ``async``
    though they never wait: FastAPI runs a plain ``def`` dependency in its thread pool, two
    thread hops per request (a tenth of a single-row request's time)."""
    return app_service(request.app)


Service = Annotated[ServiceState, Depends(service_state)]
"""A route parameter of this type receives the running service."""


_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Awaitable[Any]])


def checks_token(endpoint: _Endpoint) -> _Endpoint:
    """``endpoint`` behind the token check, done first thing in the endpoint's own call:
    ``/predict`` and ``/invocations``, where resolving ``require_token`` as a dependency
    costs about 20 us a request. The check and its mark are one decorator, so a marked route
    cannot skip it; the OpenAPI document declares such a route protected like a
    ``require_token`` one (``inferwatch.server.openapi``). ``endpoint`` takes the request
    as its first argument, by position or as ``request``."""

    @functools.wraps(endpoint)
    async def guarded(request: Request, *args: Any, **kwargs: Any) -> Any:
        app_service(request.app).token.enforce(request)
        return await endpoint(request, *args, **kwargs)

    guarded.checks_token = True  # type: ignore[attr-defined]  # the mark openapi reads
    return cast(_Endpoint, guarded)


def marked_checks_token(endpoint: Any) -> bool:
    """Whether ``endpoint`` was marked with :func:`checks_token`."""
    return getattr(endpoint, "checks_token", False) is True


async def require_token(request: Request) -> None:
    """Raise 401 unless the request carries the configured bearer token. It reads the
    service itself rather than through ``Service``: each dependency FastAPI resolves costs
    about as much as validating a single-row request, and this one runs on every call."""
    app_service(request.app).token.enforce(request)


__all__ = [
    "Service",
    "app_service",
    "attach_service",
    "checks_token",
    "marked_checks_token",
    "require_token",
    "service_state",
]
