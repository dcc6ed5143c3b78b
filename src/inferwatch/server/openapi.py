"""The OpenAPI document, true to the served model and to what the routes answer.

The hot routes parse their bodies themselves (the feature schema is only known at run time),
so FastAPI cannot describe them; this module does, each time the document is asked for (a
promotion may change the model): request bodies and examples from the served model's schema
and classes, the bearer scheme on every route that takes the token, the error answers
(``{"detail", "field"}``) each route can give, the Alertmanager webhook body and ``/metrics``
as Prometheus text. Every ``$ref`` points into ``components``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from inferwatch.alertbook import WebhookPayload
from inferwatch.core.schema import FeatureSchema
from inferwatch.server.dashboard import QUERIES, RANGES
from inferwatch.server.deps import marked_checks_token, require_token
from inferwatch.server.inputs import MLFLOW_KEYS
from inferwatch.server.responses import FeedbackResponse
from inferwatch.server.served import ServedModel

_REF = "#/components/schemas/{model}"
ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "field": {"type": "string"}},
    "required": ["detail"],
}
_ERRORS = {
    "400": "Not JSON, or nested too deep",
    "401": "Missing or wrong bearer token (when a token is configured)",
    "403": "Refused (retraining without a token beyond loopback)",
    "404": "No prediction with that id (a single label), or no model of that name",
    "409": "Conflict: a retraining run already in progress, ids already logged, or no model "
    "to score with (a log-only model directory)",
    "413": "Body or batch over the limit",
    "422": "Invalid input: the answer names the field",
    "502": "The upstream model failed or answered nonsense",
    "503": "The prediction store is unavailable: nothing was acknowledged",
    "504": "The upstream model did not answer in time",
}
_ROUTE_ERRORS: dict[tuple[str, str], tuple[str, ...]] = {
    ("post", "/predict"): ("400", "409", "413", "422", "502", "503", "504"),
    ("post", "/invocations"): ("400", "409", "413", "422", "502", "503", "504"),
    ("post", "/log"): ("400", "409", "413", "422", "503"),
    ("post", "/v2/models/{name}/infer"): ("400", "404", "409", "413", "422", "502", "503", "504"),
    ("post", "/v2/models/{name}/versions/{version}/infer"): (
        "400",
        "404",
        "409",
        "413",
        "422",
        "502",
        "503",
        "504",
    ),
    ("get", "/v2/models/{name}"): ("404",),
    ("get", "/v2/models/{name}/ready"): ("404", "503"),
    ("get", "/v2/health/ready"): ("503",),
    ("post", "/feedback"): ("400", "404", "413", "422", "503"),
    ("post", "/alerts"): ("413", "422"),
    ("post", "/api/retrain"): ("403", "409"),
}


def example_row(schema: FeatureSchema) -> dict[str, Any]:
    """A valid row: the middle of each numeric range, the first known category."""
    row: dict[str, Any] = {}
    for spec in schema.features:
        if spec.kind == "numeric":
            lo = spec.min if spec.min is not None else 0.0
            hi = spec.max if spec.max is not None else lo
            row[spec.name] = round((lo + hi) / 2, 4)
        else:
            row[spec.name] = spec.categories[0] if spec.categories else "a"
    return row


def _row_schema(schema: FeatureSchema) -> dict[str, Any]:
    props = {
        s.name: {"type": "number"} if s.kind == "numeric" else {"type": "string"}
        for s in schema.features
    }
    required = [s.name for s in schema.features if s.required]
    return {"type": "object", "properties": props, "required": required}


def _body(schema: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    content = {"schema": schema, "examples": {k: {"value": v} for k, v in examples.items()}}
    return {"required": True, "content": {"application/json": content}}


def _model_bodies(served: ServedModel, max_rows: int) -> dict[tuple[str, str], Any]:
    schema = served.schema
    row, row_schema = example_row(schema), _row_schema(schema)
    names = list(schema.names)
    rows = {"type": "array", "items": row_schema, "minItems": 1, "maxItems": max_rows}
    classes = served.metadata.classes
    label: dict[str, Any] = {"enum": classes} if classes else {"type": "number"}
    one_label = {
        "type": "object",
        "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 128}, "label": label},
        "required": ["id", "label"],
    }
    # items are judged one by one: a bad item is answered ``invalid``, the batch still 200
    item = {"description": "an object with id and label; anything else: outcome invalid"}
    labels = {"type": "object", "properties": {"labels": {"type": "array", "items": item}}}
    labels["required"] = ["labels"]
    split = {"columns": {"type": "array", "items": {"type": "string"}}, "data": {"type": "array"}}
    example_label = classes[0] if classes else 1.0
    # one per row, null for none: the ground truth when it is known already (a replay or a
    # backtest of labelled history); all or nothing (a bad one refuses the request, 422)
    row_labels = {
        "type": "array",
        "items": {"anyOf": [label, {"type": "null"}]},
        "description": "one per row (null for none): the ground truth, known already",
    }
    ids = {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": 128},
        "description": "one per row, of your choosing (a stored id answers 409)",
    }
    prediction = {"enum": classes} if classes else {"type": "number"}
    logged = {
        "type": "object",
        "properties": {
            "rows": {"type": ["array", "object"], "description": "any /predict layout"},
            "instances": {"type": ["array", "object"], "description": "the same as rows"},
            "predictions": {"type": "array", "items": prediction},
            "probabilities": {"type": "array", "items": {"type": "array"}},
            "ids": ids,
            "labels": row_labels,
        },
        "required": ["predictions"],
    }
    return {
        ("post", "/predict"): _body(
            {
                "oneOf": [
                    row_schema,
                    {
                        "type": "object",
                        "properties": {"instances": rows, "ids": ids, "labels": row_labels},
                        "required": ["instances"],
                    },
                ]
            },
            {
                "one row": row,
                "batch": {"instances": [row, row]},
                "with labels": {"instances": [row, row], "labels": [example_label, None]},
            },
        ),
        ("post", "/log"): _body(
            logged,
            {
                "rows": {"rows": [row], "predictions": [example_label]},
                "with ids": {"rows": [row], "predictions": [example_label], "ids": ["order-1"]},
                "with labels": {
                    "rows": [row, row],
                    "predictions": [example_label, example_label],
                    "labels": [example_label, None],
                },
            },
        ),
        ("post", "/invocations"): _body(
            {
                "type": "object",
                "properties": {
                    "dataframe_split": {"type": "object", "properties": split},
                    "dataframe_records": rows,
                    "instances": rows,
                    "inputs": {"type": ["array", "object"]},
                },
                "oneOf": [{"required": [key]} for key in MLFLOW_KEYS],
            },
            {
                "dataframe_split": {
                    "dataframe_split": {"columns": names, "data": [[row[n] for n in names]]}
                },
                "dataframe_records": {"dataframe_records": [row]},
                "instances": {"instances": [row]},
                "inputs": {"inputs": {n: [row[n]] for n in names}},
            },
        ),
        ("post", "/feedback"): _body(
            {"oneOf": [labels, one_label]},
            {
                "batch": {"labels": [{"id": "0190a1b2c3d4", "label": example_label}]},
                "one label": {"id": "0190a1b2c3d4", "label": example_label},
            },
        ),
    }


def _checks_token(dependencies: Sequence[Any]) -> bool:
    return any(getattr(d, "dependency", None) is require_token for d in dependencies)


def _protected(routes: Sequence[Any], inherited: bool = False) -> set[tuple[str, str]]:
    """``(method, path)`` of every route that checks the bearer token: through its own or an
    enclosing router's dependencies (FastAPI keeps an included router as a wrapper that holds
    the ``APIRouter``), or itself (marked ``checks_token``)."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        router = getattr(route, "original_router", None)
        if isinstance(router, APIRouter):
            found |= _protected(router.routes, inherited or _checks_token(router.dependencies))
        elif isinstance(route, APIRoute) and (
            inherited or _checks_token(route.dependencies) or marked_checks_token(route.endpoint)
        ):
            found |= {(m.lower(), route.path) for m in route.methods or ()}
    return found


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def build(app: FastAPI, served: ServedModel, max_rows: int, secured: bool) -> dict[str, Any]:
    """The document for ``app`` serving ``served``; ``secured``: a token is configured (the
    protected routes then declare the bearer scheme and their 401)."""
    doc = get_openapi(
        title=app.title, version=served.metadata.version, summary=app.summary, routes=app.routes
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    components.setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
    }
    schemas["Error"] = ERROR
    alert = WebhookPayload.model_json_schema(ref_template=_REF, by_alias=True)
    schemas.update(alert.pop("$defs", {}))
    schemas["WebhookPayload"] = alert
    schemas["FeedbackResponse"] = FeedbackResponse.model_json_schema(ref_template=_REF)
    schemas.update(schemas["FeedbackResponse"].pop("$defs", {}))
    bodies = _model_bodies(served, max_rows)
    bodies[("post", "/alerts")] = _body({"$ref": _REF.format(model="WebhookPayload")}, {})
    protected = _protected(app.routes)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            key = (method, path)
            if key in bodies:
                operation["requestBody"] = bodies[key]
            responses = operation.setdefault("responses", {})
            codes = list(_ROUTE_ERRORS.get(key, ()))
            if secured and key in protected:
                operation["security"] = [{"bearerAuth": []}]
                codes.append("401")
            for code in codes:
                responses[code] = {"description": _ERRORS[code], "content": _json(ERROR)}
    query = doc["paths"].get("/api/query", {}).get("get")
    if query is not None:
        for parameter in query.get("parameters", []):
            allowed = {"name": sorted(QUERIES), "range": list(RANGES)}.get(parameter["name"])
            if allowed is not None:
                parameter["schema"]["enum"] = allowed
        query["responses"]["400"] = {"description": "Unknown query name or range"}
        query["responses"]["502"] = {"description": "Prometheus unreachable or failing"}
    logged = doc["paths"].get("/log", {}).get("post")
    if logged is not None:
        logged["responses"]["202"] = {
            "description": "Half of a KServe inference logger event: waiting for the other",
            "content": _json({"type": "object"}),
        }
    metrics = doc["paths"].get("/metrics", {}).get("get")
    if metrics is not None:
        text = {"schema": {"type": "string"}}
        metrics["responses"]["200"] = {
            "description": "Prometheus text exposition format",
            "content": {"text/plain; version=0.0.4; charset=utf-8": text},
        }
    return doc


def install(app: FastAPI, served: Callable[[], ServedModel], max_rows: int, secured: bool) -> None:
    """Serve ``build``'s document at ``/openapi.json`` (rebuilt for each request: cheap)."""

    def openapi() -> dict[str, Any]:
        return build(app, served(), max_rows, secured)

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


__all__ = ["ERROR", "build", "example_row", "install"]
