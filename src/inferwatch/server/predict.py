"""``POST /predict`` and ``POST /invocations``: parse, validate, score, commit, answer.

The request path does no monitoring math: it validates against the schema, calls the
backend, hands the rows to the flusher and waits for the group commit that makes them
durable. The monitor is fed by the flusher thread, in batches.

``/predict`` also takes the rows' ground truth when it is known as they are scored (a
replay or a backtest of labelled history): ``labels`` beside ``instances``, one per row
(``null`` for none). They travel with the rows (``PredictionBatch.labels``), are stored in
the rows' own transaction without a lookup, and are counted as ``/feedback`` labels; the
answer's ``label_counts`` says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from fastapi import APIRouter, Request, Response

from inferwatch.backends import BackendError
from inferwatch.core.schema import Batch, FeatureSchema
from inferwatch.integrations.logged import LogRejected, check_labels
from inferwatch.server.client_ids import IdReservations, parse_ids
from inferwatch.server.deps import app_service, checks_token
from inferwatch.server.flusher import FlusherStopped
from inferwatch.server.inputs import (
    Rejected,
    invocations_batch,
    loads,
    predict_batch,
    reject_missing,
)
from inferwatch.server.responses import (
    INVOCATIONS_BODY,
    PREDICT_BODY,
    PROBLEMS,
    InvocationsResponse,
    PredictResponse,
    json_response,
    problem,
)
from inferwatch.server.served import ServedModel
from inferwatch.server.state import ServiceState
from inferwatch.store import LabelledRowsStored, PredictionBatch, new_ids


class Scored(NamedTuple):
    """What a scored request answers with."""

    ids: list[str]
    predictions: np.ndarray
    probabilities: np.ndarray | None
    label_counts: dict[str, int] | None = None
    """The outcome counts of the ``labels`` sent with the rows (``None``: none were sent)."""


def rejected_response(state: ServiceState, served: ServedModel, exc: Rejected) -> Response:
    """Count a refused request and answer it (4xx naming the field)."""
    served.inference.error("validation")
    if exc.check is not None and exc.field in served.schema.names:
        state.totals.add_rejected(exc.field, exc.check)
    return problem(exc.status, exc.detail, field=exc.field)


def _wire(predictions: np.ndarray) -> Any:
    """Predictions as orjson sends them: numeric arrays as they are, objects as a list."""
    if predictions.dtype != object:
        return predictions
    return predictions.tolist()


def _id_header(ids: list[str]) -> dict[str, str] | None:
    return {"X-Prediction-Id": ids[0]} if len(ids) == 1 else None


_UNREAD: Any = object()


def parse_labels(
    data: Any, served: ServedModel, n_rows: int, key: str = "instances"
) -> list[Any] | None:
    """The ``labels`` beside the ``n_rows`` rows under ``key``, one per row (``None`` for a
    row without one), as stored: the model's spelling of a class, or a float. ``None`` when
    none were sent; a ``Rejected`` 422 naming the field when unusable."""
    if not isinstance(data, dict) or "labels" not in data or key not in data:
        return None
    try:
        return check_labels(data["labels"], n_rows, served.task, served.metadata.classes)
    except LogRejected as exc:
        raise Rejected(422, exc.field, exc.detail) from None


async def _score(
    state: ServiceState,
    served: ServedModel,
    request: Request,
    parse: Callable[[FeatureSchema, Any, int], Batch],
    reservations: IdReservations | None = None,
    decoded: Any = _UNREAD,
    *,
    labelled: bool = False,
) -> Scored | Response:
    """Validate, score and commit the rows of ``request`` with ``served`` alone (the request
    read it once: a promotion meanwhile does not change which version answers). With
    ``reservations``, ids the client sends beside ``instances`` name the rows; with
    ``labelled``, labels beside ``instances`` are committed with them. ``decoded`` is the
    body already decoded by the caller (a protocol with a wire format of its own)."""
    given: list[str] | None = None
    labels: list[Any] | None = None
    try:
        data = loads(await request.body()) if decoded is _UNREAD else decoded
        batch = parse(served.schema, data, state.settings.max_batch_rows)
        if not served.accepts_missing:
            reject_missing(served.schema, batch)
        if labelled:
            n_rows = len(next(iter(batch.columns.values())))
            labels = parse_labels(data, served, n_rows)
        if reservations is not None and (given := parse_ids(data)) is not None:
            await reservations.claim(given, state.store.existing_ids)
    except Rejected as exc:
        if exc.field.startswith("labels"):
            state.totals.add_feedback({"invalid": 1})
        return rejected_response(state, served, exc)
    try:
        return await _commit(state, served, batch, given, labels)
    finally:
        if reservations is not None and given is not None:
            reservations.release(given)


async def _commit(
    state: ServiceState,
    served: ServedModel,
    batch: Batch,
    given: list[str] | None,
    labels: list[Any] | None = None,
) -> Scored | Response:

    frame = batch.columns
    inference = served.inference
    start = time.perf_counter()
    try:
        output = await served.backend.predict(frame)
    except BackendError as exc:
        inference.error(exc.error_type)
        return problem(exc.status_code, str(exc), error_type=exc.error_type)
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
        labels,  # stored with the rows, in their transaction, without a lookup
    )
    try:
        await state.flusher_or_raise().submit_predictions(rows, served, coerced)
    except LabelledRowsStored as exc:  # another replica stored one of the ids meanwhile
        return problem(409, f"ids: {exc}", field="ids")
    except (FlusherStopped, Exception) as exc:  # the store failed: nothing is acknowledged
        inference.error("store")
        return problem(503, f"prediction store unavailable: {exc}")
    if labels is None:
        return Scored(ids, predictions, probabilities)
    matched = rows.labelled()
    counts = {"matched": matched} if matched else {}
    if counts:
        state.totals.add_feedback(counts)
    return Scored(ids, predictions, probabilities, counts)


def predict_router() -> APIRouter:
    router = APIRouter(tags=["model"])  # each route is behind @checks_token
    reservations = IdReservations()

    @router.post(
        "/predict",
        summary='Score one object of features or {"instances": [...]}',
        response_model=PredictResponse,
        responses=PROBLEMS,
        openapi_extra=PREDICT_BODY,
    )
    @checks_token
    async def predict(request: Request) -> Response:
        state = app_service(request.app)
        served = state.served
        scored = await _score(state, served, request, predict_batch, reservations, labelled=True)
        if isinstance(scored, Response):
            return scored
        ids, predictions, probabilities, label_counts = scored
        info = served.info
        body = {  # a PredictResponse, fields in its order (a plain dict costs a third)
            "ids": ids,
            "predictions": _wire(predictions),
            "probabilities": probabilities,  # orjson sends the array as lists
            "model": info.model,
            "model_version": info.model_version,
        }
        if label_counts is not None:
            body["label_counts"] = label_counts
        return json_response(body, headers=_id_header(ids))

    @router.post(
        "/invocations",
        summary="MLflow scoring protocol (dataframe_split, dataframe_records, instances, inputs)",
        response_model=InvocationsResponse,
        responses=PROBLEMS,
        openapi_extra=INVOCATIONS_BODY,
    )
    @checks_token
    async def invocations(request: Request) -> Response:
        state = app_service(request.app)
        scored = await _score(state, state.served, request, invocations_batch)
        if isinstance(scored, Response):
            return scored
        ids, predictions, _, _ = scored
        body = {"predictions": _wire(predictions), "ids": ids}  # an InvocationsResponse
        return json_response(body, headers=_id_header(ids))

    return router


score_request = _score
"""Validate, score and commit a request's rows (for routes of other protocols, e.g. v2)."""

__all__ = ["Scored", "parse_labels", "predict_router", "rejected_response", "score_request"]
