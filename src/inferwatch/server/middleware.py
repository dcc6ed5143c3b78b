"""Pure ASGI middleware: HTTP metrics and the request body size limit.

Both wrap the app at the ASGI level (no ``BaseHTTPMiddleware``): they add no task, no
queue and no copy of the body, so the cost per request is a few dictionary look-ups.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

OTHER_ROUTE = "other"
"""Route label of every request that matched no route, so unknown paths stay one series."""

LATENCY_BUCKETS = (
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
    10.0,
)


class HttpMetrics:
    """The HTTP metric families of one registry, with cached label children."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "inferwatch_http_requests",
            "HTTP requests by method, route template and status code.",
            ("method", "route", "status_code"),
            registry=registry,
        )
        self.duration = Histogram(
            "inferwatch_http_request_duration_seconds",
            "End-to-end HTTP request latency by method and route template.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_progress = Gauge(
            "inferwatch_http_requests_in_progress",
            "HTTP requests being served right now.",
            registry=registry,
        )
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    def preinit(self, routes: list[tuple[str, str]], status_codes: tuple[int, ...]) -> None:
        """Create the children of the known ``(method, route)`` pairs so they export 0."""
        for method, route in routes:
            self._histogram(method, route)
            for code in status_codes:
                self._counter(method, route, code)

    def _counter(self, method: str, route: str, status: int) -> Any:
        key = (method, route, status)
        child = self._counters.get(key)
        if child is None:
            child = self.requests.labels(method, route, str(status))
            self._counters[key] = child
        return child

    def _histogram(self, method: str, route: str) -> Any:
        key = (method, route)
        child = self._histograms.get(key)
        if child is None:
            child = self.duration.labels(method, route)
            self._histograms[key] = child
        return child

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        self._counter(method, route, status).inc()
        self._histogram(method, route).observe(seconds)


def route_table(routes: Iterable[Any], prefix: str = "") -> list[tuple[str, frozenset[str]]]:
    """``(path template, methods)`` of every route, including those of included routers."""
    out: list[tuple[str, frozenset[str]]] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:  # a router included lazily
            context = getattr(route, "include_context", None)
            out += route_table(inner.routes, prefix + (getattr(context, "prefix", "") or ""))
            continue
        path = getattr(route, "path", None)
        if isinstance(path, str):
            out.append((prefix + path, frozenset(getattr(route, "methods", None) or ())))
    return out


_KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def route_template(scope: Scope, known_paths: frozenset[str] = frozenset()) -> str:
    """The path template of the route the router matched, or ``"other"``.

    A request answered before routing (a 413 from the body limit) has no matched route;
    its path counts as its own template when it is one of ``known_paths`` (static routes).
    """
    route = scope.get("route")
    if route is None:
        path = scope.get("path", "")
        return path if path in known_paths else OTHER_ROUTE
    template = getattr(route, "path", None)
    return template if isinstance(template, str) and template else OTHER_ROUTE


class MetricsMiddleware:
    """Counts every HTTP request and times it, labelled by route template (bounded)."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: HttpMetrics,
        known_paths: frozenset[str] = frozenset(),
        traffic: Callable[[int, float], None] | None = None,
        traffic_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.known_paths = known_paths
        self.traffic = traffic
        self.traffic_paths = traffic_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        in_progress = self.metrics.in_progress
        in_progress.inc()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            in_progress.dec()
            seconds = time.perf_counter() - start
            method = scope["method"]
            if method not in _KNOWN_METHODS:
                method = "other"
            route = route_template(scope, self.known_paths)
            self.metrics.record(method, route, status, seconds)
            if self.traffic is not None and route in self.traffic_paths:
                self.traffic(status, seconds)


class BodyTooLarge(Exception):
    """Raised from ``receive`` once a request body passes the limit."""


def _too_large_response(limit: int) -> tuple[Message, Message]:
    body = (
        b'{"detail":"request body exceeds the limit of '
        + str(limit).encode()
        + b' bytes","field":"body"}'
    )
    start: Message = {
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimitMiddleware:
    """Answers 413 for bodies over ``max_bytes`` without reading them whole.

    A declared ``Content-Length`` over the limit is refused before any byte is read; a
    chunked body is counted as it streams and refused when it passes the limit.
    ``on_reject`` is called once per refused request (to count it).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, on_reject: Callable[[Scope], None] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.on_reject = on_reject

    async def _reject(self, scope: Scope, send: Send) -> None:
        if self.on_reject is not None:
            self.on_reject(scope)
        start, body = _too_large_response(self.max_bytes)
        await send(start)
        await send(body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    break
                if declared > limit:
                    await self._reject(scope, send)
                    return
                # The server reads exactly the declared length: nothing to count.
                await self.app(scope, receive, send)
                return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._reject(scope, send)


__all__ = [
    "OTHER_ROUTE",
    "BodyLimitMiddleware",
    "BodyTooLarge",
    "HttpMetrics",
    "MetricsMiddleware",
    "route_table",
    "route_template",
]
