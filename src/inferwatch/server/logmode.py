"""``POST /log``: predictions made elsewhere, watched like the service's own.

The body is ``{"rows": [...], "predictions": [...], "probabilities": [...]?, "ids": [...]?,
"labels": [...]?}`` (``rows`` in any ``/predict`` layout; ``instances`` is accepted for
``rows``). The rows get the same validation, the store the same durable write, the monitor
and the metrics the same feed as ``/predict``; the answer holds the ids (the caller's, or new
ones) for labels later. Ids already stored are refused with a 409 (a retried log must not
count twice). Labels known already (a backtest) come as ``labels``, one per row (``null`` for
none), checked and kept as ``/predict`` keeps them; the answer then adds ``label_counts``.

A request carrying a ``ce-type`` header is a KServe inference logger CloudEvent: request and
response halves sharing a ``ce-id`` are joined (in either order) and logged as one batch;
the id of its single row is the ``ce-id`` (``<ce-id>-<i>`` for row ``i`` of several). A
first half is answered 202; the second 200 with the ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request, Response
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from inferwatch.backends import BackendError
from inferwatch.backends.oip import parse_infer_answer
from inferwatch.backends.upstream import parse_answer
from inferwatch.core.schema import Batch, SchemaError
from inferwatch.integrations.kserve import PendingHalves, event_half, request_rows
from inferwatch.integrations.logged import LogRejected, check_ids, check_outputs
from inferwatch.server.deps import app_service, require_token
from inferwatch.server.flusher import FlusherStopped
from inferwatch.server.inputs import (
    Rejected,
    instances_batch,
    loads,
    reject_missing,
    split_batch,
)
from inferwatch.server.predict import parse_labels, rejected_response
from inferwatch.server.responses import json_response
from inferwatch.server.served import ServedModel
from inferwatch.server.state import ServiceState
from inferwatch.store import LabelledRowsStored, PredictionBatch, new_ids


def _rejected(state: ServiceState, served: ServedModel, field: str, detail: str) -> Response:
    return rejected_response(state, served, Rejected(422, field, detail))


async def already_stored(state: ServiceState, ids: list[str] | None) -> list[str]:
    """The ids among ``ids`` the store already holds (a retried log must not count twice)."""
    if not ids:
        return []
    found = await asyncio.gather(*(asyncio.to_thread(state.store.get, i) for i in ids))
    return [i for i, stored in zip(ids, found, strict=True) if stored is not None]


def _logged(served: ServedModel, ids: list[str], labels: list[Any] | None = None) -> Response:
    body: dict[str, Any] = {"ids": ids, "model": served.info.model, "rows": len(ids)}
    if labels is not None:
        matched = len(labels) - labels.count(None)
        body["label_counts"] = {"matched": matched} if matched else {}
    return json_response(body)


async def log_batch(
    state: ServiceState,
    served: ServedModel,
    batch: Batch,
    predictions: np.ndarray,
    probabilities: np.ndarray | None,
    ids: list[str] | None,
    labels: list[Any] | None = None,
) -> list[str] | Response:
    """Store the logged rows for ``served`` (durable before the answer) and count them; the
    monitor feed takes them from there. ``labels``: one per row (or ``None``), stored with
    them. Returns the ids, or the error response."""
    n = len(predictions)
    chosen = ids or new_ids(n)
    info = served.info
    rows = PredictionBatch(
        chosen,
        state.clock(),
        info.model,
        info.model_version,
        batch.columns,
        predictions,
        probabilities,
        labels=labels,
    )
    try:
        coerced = batch.coerced if batch.coerced_names else None
        await state.flusher_or_raise().submit_predictions(rows, served, coerced)
    except LabelledRowsStored as exc:  # another replica logged one of the ids meanwhile
        served.inference.error("validation")
        return json_response({"detail": f"ids: {exc}", "field": "ids"}, 409)
    except (FlusherStopped, Exception) as exc:  # the store failed: nothing is acknowledged
        served.inference.error("store")
        return json_response({"detail": f"prediction store unavailable: {exc}"}, 503)
    served.inference.rows.inc(n)
    if labels is not None and (matched := rows.labelled()):
        state.totals.add_feedback({"matched": matched})
    return chosen


async def log_body(state: ServiceState, served: ServedModel, data: Any) -> Response:
    """``{"rows", "predictions", "probabilities"?, "ids"?}`` for ``served``."""
    if not isinstance(data, dict):
        detail = 'body: expected {"rows": [...], "predictions": [...]}'
        return _rejected(state, served, "body", detail)
    key = "rows" if "rows" in data else "instances"
    try:
        batch = instances_batch(served.schema, data.get(key), state.settings.max_batch_rows, key)
        if not served.accepts_missing:
            reject_missing(served.schema, batch)
        n = len(next(iter(batch.columns.values())))
        preds, probs = check_outputs(
            served.metadata, n, data.get("predictions"), data.get("probabilities")
        )
        ids = check_ids(data.get("ids"), n)
        labels = parse_labels(data, served, n, key)
    except Rejected as exc:
        if exc.field.startswith("labels"):
            state.totals.add_feedback({"invalid": 1})
        return rejected_response(state, served, exc)
    except LogRejected as exc:
        return _rejected(state, served, exc.field, exc.detail)
    taken = await already_stored(state, ids)
    if taken:
        served.inference.error("validation")
        detail = f"ids: already logged: {', '.join(taken[:5])}"
        return json_response({"detail": detail, "field": "ids", "ids": taken}, 409)
    logged = await log_batch(state, served, batch, preds, probs, ids, labels)
    return logged if isinstance(logged, Response) else _logged(served, logged, labels)


async def _joined(
    state: ServiceState, served: ServedModel, ce_id: str, request_body: Any, answer: Any
) -> Response:
    schema = served.schema
    try:
        rows = request_rows(request_body, schema.names)
        if isinstance(rows, list):
            batch = schema.columns_from_records(rows)
        else:
            batch = split_batch(schema, *rows)
        if not served.accepts_missing:
            reject_missing(schema, batch)
        n = len(next(iter(batch.columns.values())))
        v2 = isinstance(answer, dict) and "outputs" in answer
        output = (parse_infer_answer if v2 else parse_answer)(answer, n, served.metadata)
    except Rejected as exc:
        return rejected_response(state, served, exc)
    except SchemaError as exc:
        return _rejected(state, served, exc.field, str(exc))
    except (ValueError, BackendError) as exc:
        return _rejected(state, served, "body", str(exc))
    ids = [ce_id] if n == 1 else [f"{ce_id}-{i}" for i in range(n)]
    if await already_stored(state, ids):  # the logger sent this event again: logged once
        return json_response({"ids": ids, "model": served.info.model, "duplicate": True})
    logged = await log_batch(state, served, batch, output.predictions, output.probabilities, ids)
    return logged if isinstance(logged, Response) else _logged(served, logged)


class LogEndpoint:
    """What ``/log`` does for one served model: a plain body, or a KServe CloudEvent half
    (joined with its partner by ``ce-id``)."""

    def __init__(self, pending: PendingHalves | None = None) -> None:
        self.halves = pending if pending is not None else PendingHalves()

    async def __call__(
        self, request: Request, state: ServiceState, served: ServedModel
    ) -> Response:
        try:
            data = loads(await request.body())
        except Rejected as exc:
            return rejected_response(state, served, exc)
        ce_type = request.headers.get("ce-type")
        if ce_type is None:
            return await log_body(state, served, data)
        half = event_half(ce_type)
        ce_id = request.headers.get("ce-id", "")
        if half is None or not ce_id or len(ce_id) > 120:
            detail = "ce-type: not a KServe inference request or response event with a ce-id"
            return _rejected(state, served, "ce-type", detail)
        both = self.halves.add(ce_id, half, data, state.clock())
        if both is None:
            waiting = "response" if half == "request" else "request"
            return json_response({"id": ce_id, "waiting_for": waiting}, 202)
        return await _joined(state, served, ce_id, *both)


class PendingHalvesCollector(Collector):
    """The KServe logger's unjoined CloudEvent halves of one service, at scrape time: how many
    wait for their partner, and how many were dropped unjoined (expired after ``ttl`` or
    pushed out past ``max_pending``): rows the logger sent that were never watched."""

    def __init__(self, halves: PendingHalves, state: ServiceState) -> None:
        self.halves = halves
        self.state = state

    def collect(self) -> Iterable[Metric]:
        self.halves.expire(self.state.clock())
        model = self.state.served.info.model
        dropped = CounterMetricFamily(
            "inferwatch_kserve_events_dropped",
            "KServe inference logger CloudEvent halves dropped before their partner came.",
            labels=["model"],
        )
        dropped.add_metric([model], float(self.halves.dropped))
        pending = GaugeMetricFamily(
            "inferwatch_kserve_events_pending",
            "KServe inference logger CloudEvent halves waiting for their partner.",
            labels=["model"],
        )
        pending.add_metric([model], float(len(self.halves)))
        yield dropped
        yield pending


def log_router(pending: PendingHalves | None = None) -> APIRouter:
    router = APIRouter(tags=["model"], dependencies=[Depends(require_token)])
    endpoint = LogEndpoint(pending)

    @router.post(
        "/log",
        summary="Log predictions made elsewhere (or a KServe inference logger CloudEvent)",
    )
    async def log_predictions(request: Request) -> Response:
        state = app_service(request.app)
        return await endpoint(request, state, state.served)

    return router


__all__ = ["LogEndpoint", "PendingHalvesCollector", "log_batch", "log_body", "log_router"]
