"""Request and response bodies, for the OpenAPI page (``/docs``).

The hot routes parse their bodies with orjson and validate against the feature schema
themselves (the schema is only known at run time); these models document the shapes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class PredictResponse(BaseModel):
    ids: list[str] = Field(description="One id per row: send it back with the label to /feedback.")
    predictions: list[Any]
    probabilities: list[list[float]] | None = Field(
        None, description="Class probabilities in the model's class order (classifiers)."
    )
    model: str
    model_version: str


class InvocationsResponse(BaseModel):
    predictions: list[Any]
    ids: list[str]


class LabelIn(BaseModel):
    id: str = Field(description="A prediction id returned by /predict or /invocations.")
    label: Any = Field(description="The true class (classifier) or value (regressor).")


class FeedbackRequest(BaseModel):
    labels: list[LabelIn]


class FeedbackResult(BaseModel):
    id: str | None
    outcome: str = Field(description="matched, unknown_id, duplicate or invalid")
    delay_seconds: float | None = None
    detail: str | None = None


class FeedbackResponse(BaseModel):
    results: list[FeedbackResult]
    counts: dict[str, int]


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
        "[strings], one per instance, name the rows (unique: a stored id answers 409)",
    },
    {
        "one row": _ROW,
        "batch": {"instances": [_ROW, _ROW]},
        "with ids": {"instances": [_ROW], "ids": ["reading-0001"]},
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
FEEDBACK_BODY = _body(
    FeedbackRequest.model_json_schema(),
    {
        "batch": {"labels": [{"id": "3f2a...", "label": "setosa"}]},
        "one label": {"id": "3f2a...", "label": "setosa"},
    },
)

__all__ = [
    "FEEDBACK_BODY",
    "INVOCATIONS_BODY",
    "PREDICT_BODY",
    "FeedbackRequest",
    "FeedbackResponse",
    "FeedbackResult",
    "InvocationsResponse",
    "LabelIn",
    "PredictResponse",
]
