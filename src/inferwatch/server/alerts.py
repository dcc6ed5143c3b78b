"""``POST /alerts`` (the Alertmanager webhook) and ``GET /api/alerts``.

The webhook validates the payload (version 4), applies it to the ``AlertBook`` and answers
at once; a bad payload gets a 422 naming the field and is counted. The received alerts are
exported at scrape time as ``inferwatch_alerts_received_total{alertname,status}`` and the
refused notifications as ``inferwatch_alert_notifications_rejected_total``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.params import Depends
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import ValidationError

from inferwatch.alerts import AlertBook, WebhookAlert, WebhookPayload
from inferwatch.core import jsonbody

AlertListener = Callable[[Sequence[WebhookAlert]], None]
"""Called after a notification was applied, with its alerts (e.g. to trigger retraining)."""


class AlertBookCollector(Collector):
    """Exports the book's counts at scrape time."""

    def __init__(self, book: AlertBook) -> None:
        self._book = book

    def collect(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "inferwatch_alerts_received",
            "Alerts received from Alertmanager by alert name and status.",
            labels=("alertname", "status"),
        )
        for (name, status), count in sorted(self._book.received_counts().items()):
            received.add_metric((name, status), count)
        yield received
        rejected = CounterMetricFamily(
            "inferwatch_alert_notifications_rejected",
            "Alertmanager webhook notifications refused as malformed.",
        )
        rejected.add_metric((), self._book.rejected)
        yield rejected


def field_name(loc: Sequence[int | str]) -> str:
    """``("alerts", 0, "status")`` -> ``"alerts[0].status"``.

    >>> field_name(("alerts", 0, "labels"))
    'alerts[0].labels'
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def _bad_request(book: AlertBook, field: str, message: str) -> JSONResponse:
    book.reject()
    return JSONResponse(
        status_code=422,
        content={"detail": f"{field}: {message}", "field": field},
    )


def alerts_router(
    book: AlertBook,
    *,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], float] = time.time,
    listeners: Sequence[AlertListener] = (),
    webhook_dependencies: Sequence[Depends] = (),
) -> APIRouter:
    """Routes for the Alertmanager webhook and the alert list.

    ``registry`` receives the ``AlertBookCollector``; ``listeners`` run after each accepted
    notification (keep them quick: the webhook answers only after they return).
    ``webhook_dependencies`` guard the webhook (the service passes its token check, since an
    alert can start retraining: Alertmanager sends the token from its ``http_config``).
    """
    if registry is not None:
        registry.register(AlertBookCollector(book))
    router = APIRouter(tags=["alerts"])

    @router.post(
        "/alerts",
        summary="Alertmanager webhook (payload version 4)",
        dependencies=list(webhook_dependencies),
    )
    async def receive_alerts(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            data: Any = jsonbody.parse(body)
        except jsonbody.JsonError as exc:
            return _bad_request(book, exc.field, exc.detail)
        try:
            payload = WebhookPayload.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            return _bad_request(book, field_name(first["loc"]), first["msg"])
        changed = book.ingest(payload, received_at=clock())
        for listener in listeners:
            listener(payload.alerts)
        return JSONResponse({"received": len(payload.alerts), "changed": changed})

    @router.get("/api/alerts", summary="Alerts firing and recently resolved")
    async def list_alerts() -> JSONResponse:
        return JSONResponse(book.to_dict())

    return router


__all__ = ["AlertBookCollector", "AlertListener", "alerts_router", "field_name"]
