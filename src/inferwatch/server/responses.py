"""The service's JSON answers: one pydantic type per body, and ``respond`` to send one.

The routes build their answers as these types (``model_construct``: no validation on the hot
path, the values are already checked) and ``respond`` serialises them (``/predict`` and
``/invocations`` send a dict of the same fields in the same order: cheaper) with orjson, numpy
arrays included; the same types are the routes' ``response_model`` and ``responses``, so the
OpenAPI page documents exactly what is sent. Optional fields left unset are left out.

The request bodies are parsed against the feature schema known at run time
(``inferwatch.server.inputs``); ``PREDICT_BODY``, ``INVOCATIONS_BODY`` and ``FEEDBACK_BODY``
document their shapes.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response
from pydantic import BaseModel, Field

JSON = "application/json"
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


class PredictResponse(BaseModel):
    ids: list[str] = Field(description="One id per row: send it back with the label to /feedback.")
    predictions: list[Any]
    probabilities: list[list[float]] | None = Field(
        None, description="Class probabilities in the model's class order (classifiers)."
    )
    model: str
    model_version: str
    label_counts: dict[str, int] | None = Field(
        None,
        description="Only when labels were sent with the rows: how many were matched "
        "(as /feedback counts them).",
    )


class InvocationsResponse(BaseModel):
    predictions: list[Any]
    ids: list[str]


class LabelIn(BaseModel):
    id: str = Field(description="A prediction id returned by /predict or /invocations.")
    label: Any = Field(description="The true class (classifier) or value (regressor).")


class FeedbackRequest(BaseModel):
    labels: list[LabelIn]


class FeedbackResult(BaseModel):
    index: int | None = Field(
        None, description="The label's position in labels (only with ?results=unmatched)."
    )
    id: str | None
    outcome: str = Field(description="matched, unknown_id, duplicate or invalid")
    delay_seconds: float | None = None
    detail: str | None = None


class FeedbackResponse(BaseModel):
    results: list[FeedbackResult]
    counts: dict[str, int]


class Problem(BaseModel):
    """A refused request: what is wrong, and the field or error type when there is one."""

    detail: str
    field: str | None = Field(None, description="The input field at fault (4xx).")
    error_type: str | None = Field(
        None, description="validation, model, upstream, timeout or store"
    )
    outcome: str | None = Field(None, description="The label's outcome (/feedback, 404).")


class Health(BaseModel):
    status: str


class ReadinessCheck(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: str = Field(description="ready or not ready")
    checks: dict[str, ReadinessCheck]


def _fields(model: Any) -> dict[str, Any]:
    if not isinstance(model, BaseModel):
        raise TypeError(f"cannot serialise {type(model).__name__}")
    given = model.model_fields_set
    return {k: getattr(model, k) for k in type(model).model_fields if k in given}


def respond(body: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``body`` as a JSON response (fields set when it was built, numpy arrays as lists)."""
    content = orjson.dumps(body, default=_fields, option=_NUMPY)
    return Response(content, status, headers, media_type=JSON)


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Plain JSON (numpy arrays as lists): the bodies that have no type of their own (the
    monitor's snapshot and history), and the prediction routes' answers, built as dicts
    with the fields of their type in its order (building the type costs more than sending
    it)."""
    return Response(orjson.dumps(content, option=_NUMPY), status, headers, media_type=JSON)


def problem(status: int, detail: str, **extra: str) -> Response:
    """A ``Problem`` answer (``extra``: ``field``, ``error_type``, ``outcome``)."""
    values: dict[str, Any] = {"detail": detail, **extra}
    return respond(Problem.model_construct(None, **values), status)


PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text}
    for code, text in (
        (413, "Body or batch over the limit"),
        (422, "Input refused (the field is named)"),
        (502, "The upstream model failed"),
        (503, "The prediction store is unavailable"),
        (504, "The upstream model timed out"),
    )
}
"""Error answers of the model routes, for their ``responses``."""


def _body(schema: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": schema,
                    "examples": {k: {"value": v} for k, v in examples.items()},
                }
            },
        }
    }


_ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}

PREDICT_BODY = _body(
    {
        "type": "object",
        "description": "One object of features, or {instances: [objects]}; optional ids: "
        "[strings], one per instance, name the rows (unique: a stored id answers 409); "
        "optional labels: one per instance (null for none), the ground truth when it is "
        "known as the rows are scored (a replay of labelled history)",
    },
    {
        "one row": _ROW,
        "batch": {"instances": [_ROW, _ROW]},
        "with ids": {"instances": [_ROW], "ids": ["reading-0001"]},
        "with labels": {"instances": [_ROW, _ROW], "labels": ["setosa", None]},
    },
)
INVOCATIONS_BODY = _body(
    {"type": "object", "description": "MLflow scoring protocol"},
    {
        "dataframe_split": {
            "dataframe_split": {"columns": list(_ROW), "data": [list(_ROW.values())]}
        },
        "dataframe_records": {"dataframe_records": [_ROW]},
        "instances": {"instances": [_ROW]},
        "inputs": {"inputs": {k: [v] for k, v in _ROW.items()}},
    },
)
FEEDBACK_RESULTS: dict[str, Any] = {
    "name": "results",
    "in": "query",
    "required": False,
    "description": "all: every label's outcome, in order (the default); unmatched: only the "
    "labels not matched, each with its index in labels. counts always has every outcome.",
    "schema": {"type": "string", "enum": ["all", "unmatched"], "default": "all"},
}
"""The ``?results=`` option of ``/feedback``."""
FEEDBACK_BODY = {
    **_body(
        FeedbackRequest.model_json_schema(),
        {
            "batch": {"labels": [{"id": "3f2a...", "label": "setosa"}]},
            "one label": {"id": "3f2a...", "label": "setosa"},
        },
    ),
    "parameters": [FEEDBACK_RESULTS],
}

__all__ = [
    "FEEDBACK_BODY",
    "FEEDBACK_RESULTS",
    "INVOCATIONS_BODY",
    "PREDICT_BODY",
    "PROBLEMS",
    "FeedbackRequest",
    "FeedbackResponse",
    "FeedbackResult",
    "Health",
    "InvocationsResponse",
    "LabelIn",
    "PredictResponse",
    "Problem",
    "Readiness",
    "ReadinessCheck",
    "json_response",
    "problem",
    "respond",
]
