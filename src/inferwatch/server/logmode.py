"""``POST /log``: predictions made elsewhere, watched like the service's own.

The body is ``{"rows": [...], "predictions": [...], "probabilities": [...]?, "ids": [...]?}``
(``rows`` in any ``/predict`` layout; ``instances`` is accepted for ``rows``). The rows get the
same validation, the store the same durable write, the monitor and the metrics the same feed
as ``/predict``; the answer holds the ids (the caller's, or new ones) for labels later.

A request carrying a ``ce-type`` header is a KServe inference logger CloudEvent: request and
response halves sharing a ``ce-id`` are joined (in either order) and logged as one batch;
the id of its single row is the ``ce-id`` (``<ce-id>-<i>`` for row ``i`` of several). A
first half is answered 202; the second 200 with the ids.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response

from inferwatch.backends import BackendError
from inferwatch.backends.oip import parse_infer_answer
from inferwatch.backends.upstream import parse_answer
from inferwatch.core.schema import Batch, SchemaError
from inferwatch.kserve import PendingHalves, event_half, request_rows
from inferwatch.logged import LogRejected, check_ids, check_outputs
from inferwatch.server.flusher import FlusherStopped
from inferwatch.server.inputs import Rejected, instances_batch, loads, reject_missing
from inferwatch.server.predict import json_response, rejected_response
from inferwatch.server.state import ServiceState
from inferwatch.store import PredictionBatch, new_ids


def _rejected(state: ServiceState, field: str, detail: str) -> Response:
    return rejected_response(state, Rejected(422, field, detail))


async def log_batch(
    state: ServiceState,
    batch: Batch,
    predictions: np.ndarray,
    probabilities: np.ndarray | None,
    ids: list[str] | None,
) -> list[str] | Response:
    """Store the logged rows (durable before the answer) and count them; the flusher feeds
    the monitor. Returns the ids, or the error response."""
    n = len(predictions)
    chosen = ids or new_ids(n)
    info = state.info
    rows = PredictionBatch(
        chosen,
        state.clock(),
        info.model,
        info.model_version,
        batch.columns,
        predictions,
        probabilities,
    )
    try:
        coerced = batch.coerced if batch.coerced_names else None
        await state.flusher_or_raise().submit_predictions(rows, coerced)
    except (FlusherStopped, Exception) as exc:  # the store failed: nothing is acknowledged
        state.inference.error("store")
        return json_response({"detail": f"prediction store unavailable: {exc}"}, 503)
    state.inference.rows.inc(n)
    return chosen


async def _log_body(state: ServiceState, data: Any) -> Response:
    if not isinstance(data, dict):
        return _rejected(state, "body", 'body: expected {"rows": [...], "predictions": [...]}')
    key = "rows" if "rows" in data else "instances"
    try:
        batch = instances_batch(state.schema, data.get(key), state.settings.max_batch_rows, key)
        n = len(next(iter(batch.columns.values())))
        preds, probs = check_outputs(
            state.metadata, n, data.get("predictions"), data.get("probabilities")
        )
        ids = check_ids(data.get("ids"), n)
    except Rejected as exc:
        return rejected_response(state, exc)
    except LogRejected as exc:
        return _rejected(state, exc.field, exc.detail)
    logged = await log_batch(state, batch, preds, probs, ids)
    if isinstance(logged, Response):
        return logged
    return json_response({"ids": logged, "model": state.info.model, "rows": len(logged)})


async def _joined(state: ServiceState, ce_id: str, request_body: Any, answer: Any) -> Response:
    try:
        rows = request_rows(request_body, state.schema.names)
        if isinstance(rows, list):
            batch = state.schema.columns_from_records(rows)
        else:
            batch = state.schema.columns_from_split(*rows)
        if not state.accepts_missing:
            reject_missing(state.schema, batch)
        n = len(next(iter(batch.columns.values())))
        parse = parse_infer_answer if isinstance(answer, dict) and "outputs" in answer else None
        output = (parse or parse_answer)(answer, n, state.metadata)
    except Rejected as exc:
        return rejected_response(state, exc)
    except SchemaError as exc:
        return _rejected(state, exc.field, str(exc))
    except (ValueError, BackendError) as exc:
        return _rejected(state, "body", str(exc))
    ids = [ce_id] if n == 1 else [f"{ce_id}-{i}" for i in range(n)]
    logged = await log_batch(state, batch, output.predictions, output.probabilities, ids)
    if isinstance(logged, Response):
        return logged
    return json_response({"ids": logged, "model": state.info.model, "rows": len(logged)})


def log_router(pending: PendingHalves | None = None) -> APIRouter:
    router = APIRouter(tags=["model"])
    halves = pending or PendingHalves()

    @router.post(
        "/log",
        summary="Log predictions made elsewhere (or a KServe inference logger CloudEvent)",
    )
    async def log_predictions(request: Request) -> Response:
        state: ServiceState = request.app.state.service
        state.token.enforce(request)
        try:
            data = loads(await request.body())
        except Rejected as exc:
            return rejected_response(state, exc)
        ce_type = request.headers.get("ce-type")
        if ce_type is None:
            return await _log_body(state, data)
        half = event_half(ce_type)
        ce_id = request.headers.get("ce-id", "")
        if half is None or not ce_id or len(ce_id) > 120:
            return _rejected(state, "ce-type", "ce-type/ce-id: not a KServe inference event")
        both = halves.add(ce_id, half, data, state.clock())
        if both is None:
            return json_response(
                {"id": ce_id, "waiting_for": "response" if half == "request" else "request"}, 202
            )
        return await _joined(state, ce_id, *both)

    return router


__all__ = ["log_batch", "log_router"]
