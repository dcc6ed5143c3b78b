"""``POST /predict`` and ``POST /invocations``: parse, validate, score, commit, answer.

The request path does no monitoring math: it validates against the schema, calls the
backend, hands the rows to the flusher and waits for the group commit that makes them
durable. The monitor is fed by the flusher thread, in batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Request, Response

from inferwatch.backends import BackendError
from inferwatch.core.schema import Batch, FeatureSchema
from inferwatch.server.client_ids import IdReservations, parse_ids
from inferwatch.server.deps import Service, require_token
from inferwatch.server.flusher import FlusherStopped
from inferwatch.server.inputs import (
    Rejected,
    invocations_batch,
    loads,
    predict_batch,
    reject_missing,
)
from inferwatch.server.models import INVOCATIONS_BODY, PREDICT_BODY, PredictResponse
from inferwatch.server.served import ServedModel
from inferwatch.server.state import ServiceState
from inferwatch.store import PredictionBatch, new_ids

JSON = "application/json"
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(content, option=_NUMPY), status, headers, media_type=JSON)


def rejected_response(state: ServiceState, served: ServedModel, exc: Rejected) -> Response:
    """Count a refused request and answer it (4xx naming the field)."""
    served.inference.error("validation")
    if exc.check is not None and exc.field in served.schema.names:
        state.totals.add_rejected(exc.field, exc.check)
    return json_response(exc.body(), exc.status)


def _as_list(values: np.ndarray) -> list[Any]:
    return values.tolist()  # type: ignore[no-any-return]  # numpy's tolist is untyped


async def _score(
    state: ServiceState,
    served: ServedModel,
    request: Request,
    parse: Callable[[FeatureSchema, Any, int], Batch],
    reservations: IdReservations | None = None,
) -> tuple[list[str], np.ndarray, np.ndarray | None] | Response:
    """Validate, score and commit the rows of ``request`` with ``served`` alone (the request
    read it once: a promotion meanwhile does not change which version answers). With
    ``reservations``, ids the client sends beside ``instances`` name the rows."""
    given: list[str] | None = None
    try:
        data = loads(await request.body())
        batch = parse(served.schema, data, state.settings.max_batch_rows)
        if not served.accepts_missing:
            reject_missing(served.schema, batch)
        if reservations is not None and (given := parse_ids(data)) is not None:
            await reservations.claim(given, state.store.existing_ids)
    except Rejected as exc:
        return rejected_response(state, served, exc)
    try:
        return await _commit(state, served, batch, given)
    finally:
        if reservations is not None and given is not None:
            reservations.release(given)


async def _commit(
    state: ServiceState, served: ServedModel, batch: Batch, given: list[str] | None
) -> tuple[list[str], np.ndarray, np.ndarray | None] | Response:

    frame = batch.columns
    inference = served.inference
    start = time.perf_counter()
    try:
        output = await served.backend.predict(frame)
    except BackendError as exc:
        inference.error(exc.error_type)
        return json_response({"detail": str(exc), "error_type": exc.error_type}, exc.status_code)
    inference.duration.observe(time.perf_counter() - start)
    n = len(output.predictions)
    inference.rows.inc(n)

    predictions = np.asarray(output.predictions)
    probabilities = None if output.probabilities is None else np.asarray(output.probabilities)
    ids = given if given is not None else new_ids(n)
    info = served.info
    coerced = batch.coerced if batch.coerced_names else None
    rows = PredictionBatch(
        ids,
        state.clock(),
        info.model,
        info.model_version,
        frame,
        predictions,
        probabilities,
        coerced,  # stored too, so a restart counts them as wrong_type again
    )
    try:
        await state.flusher_or_raise().submit_predictions(rows, served, coerced)
    except (FlusherStopped, Exception) as exc:  # the store failed: nothing is acknowledged
        inference.error("store")
        return json_response({"detail": f"prediction store unavailable: {exc}"}, 503)
    return ids, predictions, probabilities


def predict_router() -> APIRouter:
    router = APIRouter(tags=["model"], dependencies=[Depends(require_token)])
    reservations = IdReservations()

    @router.post(
        "/predict",
        summary='Score one object of features or {"instances": [...]}',
        response_model=PredictResponse,
        openapi_extra=PREDICT_BODY,
    )
    async def predict(request: Request, state: Service) -> Response:
        served = state.served
        scored = await _score(state, served, request, predict_batch, reservations)
        if isinstance(scored, Response):
            return scored
        ids, predictions, probabilities = scored
        info = served.info
        content = {
            "ids": ids,
            "predictions": predictions if predictions.dtype != object else _as_list(predictions),
            "probabilities": probabilities,
            "model": info.model,
            "model_version": info.model_version,
        }
        headers = {"X-Prediction-Id": ids[0]} if len(ids) == 1 else None
        return json_response(content, headers=headers)

    @router.post(
        "/invocations",
        summary="MLflow scoring protocol (dataframe_split, dataframe_records, instances, inputs)",
        openapi_extra=INVOCATIONS_BODY,
    )
    async def invocations(request: Request, state: Service) -> Response:
        scored = await _score(state, state.served, request, invocations_batch)
        if isinstance(scored, Response):
            return scored
        ids, predictions, _ = scored
        content = {
            "predictions": predictions if predictions.dtype != object else _as_list(predictions),
            "ids": ids,
        }
        headers = {"X-Prediction-Id": ids[0]} if len(ids) == 1 else None
        return json_response(content, headers=headers)

    return router


score_request = _score
"""Validate, score and commit a request's rows (for routes of other protocols, e.g. v2)."""

__all__ = ["json_response", "predict_router", "rejected_response", "score_request"]
