"""The Open Inference Protocol (KServe v2) as a served API, so KServe and Triton clients call
inferwatch unchanged.

- ``GET /v2/health/live``, ``GET /v2/health/ready``: liveness and readiness;
- ``GET /v2/models/{name}``: the model's metadata (inputs from the schema, outputs);
- ``GET /v2/models/{name}/ready``;
- ``POST /v2/models/{name}/infer`` (also under ``/versions/{version}``): one tensor per
  feature (``FP64``/``INT*`` for numbers, ``BYTES`` for categories), or one 2-D tensor whose
  columns are the features in schema order. The answer holds ``predict`` (and, for a
  classifier, ``predict_proba``) unless the request names the outputs it wants; the
  prediction ids for ``/feedback`` are in ``parameters.ids``.

Scoring, validation, the store and the monitor are those of ``/predict``. Errors carry the
protocol's ``error`` field beside ``detail``. Tensors come as JSON or with the binary tensor
data extension (``server/v2binary.py``), as Triton's clients send them by default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Request, Response

from inferwatch import __version__
from inferwatch.core.schema import Batch, FeatureSchema, SchemaError
from inferwatch.integrations.kserve import tensor_rows
from inferwatch.server.deps import app_service, require_token
from inferwatch.server.inputs import Rejected, split_batch
from inferwatch.server.predict import rejected_response, score_request
from inferwatch.server.responses import json_response
from inferwatch.server.served import ServedModel
from inferwatch.server.state import ServiceState
from inferwatch.server.v2binary import (
    HEADER,
    binary_outputs,
    encode_answer,
    inline_binary,
    split_body,
)


def v2_batch(schema: FeatureSchema, data: Any, max_rows: int) -> Batch:
    """The rows of a v2 inference request."""
    if not isinstance(data, dict) or not isinstance(data.get("inputs"), list) or not data["inputs"]:
        raise Rejected(422, "inputs", "inputs: expected a list of tensors")
    try:
        columns, rows = tensor_rows(data["inputs"], schema.names)
    except ValueError as exc:
        raise Rejected(422, "inputs", str(exc)) from None
    if not rows:
        raise Rejected(422, "inputs", "inputs: expected at least one row")
    if len(rows) > max_rows:
        raise Rejected(413, "inputs", f"inputs: {len(rows)} rows is over the limit of {max_rows}")
    try:
        return split_batch(schema, columns, rows)
    except SchemaError as exc:
        field = exc.field if exc.field in schema.names else "inputs"
        raise Rejected(422, field, str(exc), exc.check if field == exc.field else None) from None


def _datatype(values: np.ndarray) -> str:
    return "FP64" if values.dtype.kind == "f" else "BYTES"


def model_metadata(served: ServedModel) -> dict[str, Any]:
    meta = served.metadata
    inputs = [
        {"name": f.name, "datatype": "FP64" if f.kind == "numeric" else "BYTES", "shape": [-1]}
        for f in served.schema.features
    ]
    classification = meta.task == "classification"
    outputs = [
        {"name": "predict", "datatype": "BYTES" if classification else "FP64", "shape": [-1]}
    ]
    if classification:
        k = len(meta.classes or [])
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, k]})
    return {
        "name": meta.name,
        "versions": [meta.version],
        "platform": "inferwatch",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"classes": meta.classes, "task": meta.task},
    }


def _error(status: int, message: str) -> Response:
    return json_response({"error": message, "detail": message}, status)


def _with_error_field(response: Response) -> Response:
    body = orjson.loads(bytes(response.body))
    body.setdefault("error", body.get("detail"))
    return json_response(body, response.status_code)


OUTPUT_NAMES = ("predict", "predict_proba")


def wanted_outputs(data: Any) -> list[str]:
    """The output names a request asks for (empty: all)."""
    if not isinstance(data, dict) or data.get("outputs") is None:
        return []
    outputs = data["outputs"]
    if not isinstance(outputs, list):
        raise Rejected(422, "outputs", "outputs: expected a list of {name}")
    names = []
    for i, item in enumerate(outputs):
        name = item.get("name") if isinstance(item, dict) else None
        if name not in OUTPUT_NAMES:
            detail = f"outputs[{i}].name: expected one of {', '.join(OUTPUT_NAMES)}"
            raise Rejected(422, f"outputs[{i}].name", detail)
        names.append(name)
    return names


async def infer(request: Request, state: ServiceState, served: ServedModel) -> Response:
    try:
        data, tail = split_body(await request.body(), request.headers.get(HEADER))
        data = inline_binary(data, tail)
        wanted = wanted_outputs(data)
    except Rejected as exc:
        return _with_error_field(rejected_response(state, served, exc))
    scored = await score_request(state, served, request, v2_batch, decoded=data)
    if isinstance(scored, Response):
        return _with_error_field(scored)
    ids, predictions, probabilities, _ = scored
    n = len(ids)
    tensors = [
        {
            "name": "predict",
            "datatype": _datatype(predictions),
            "shape": [n],
            "data": predictions.tolist(),
        }
    ]
    if probabilities is not None:
        tensors.append(
            {
                "name": "predict_proba",
                "datatype": "FP64",
                "shape": list(probabilities.shape),
                "data": probabilities.reshape(-1).tolist(),
            }
        )
    if wanted:
        tensors = [t for t in tensors if t["name"] in wanted]
    body: dict[str, Any] = {
        "model_name": served.info.model,
        "model_version": served.info.model_version,
        "outputs": tensors,
        "parameters": {"ids": ids},
    }
    if isinstance(data.get("id"), str):
        body["id"] = data["id"]
    arrays = {"predict": predictions}
    if probabilities is not None:
        arrays["predict_proba"] = probabilities
    binary = binary_outputs(data, [t["name"] for t in tensors])
    if not binary:
        return json_response(body)
    content, header_size = encode_answer(body, arrays, binary)
    return Response(
        content,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(header_size)},
    )


Lookup = Callable[[Request, str], "tuple[ServiceState, ServedModel] | None"]
"""The service and served model answering for a model name (``None``: no such model)."""
AllStates = Callable[[Request], "list[ServiceState]"]


def _single(request: Request, name: str) -> tuple[ServiceState, ServedModel] | None:
    state = app_service(request.app)
    served = state.served
    return (state, served) if served.info.model == name else None


def _single_states(request: Request) -> list[ServiceState]:
    return [app_service(request.app)]


def _no_model(name: str) -> Response:
    return _error(404, f"name: no model named {name!r}")


def v2_router(
    lookup: Lookup = _single,
    states: AllStates = _single_states,
    guard: Callable[..., Any] = require_token,
) -> APIRouter:
    """The v2 routes; ``lookup`` finds the model of a name (the one served model by
    default; the service's models with ``--models-dir``), ``guard`` checks the token."""
    router = APIRouter(tags=["open inference protocol"])

    @router.get("/v2", summary="Server metadata")
    def server_metadata() -> Response:
        return json_response(
            {"name": "inferwatch", "version": __version__, "extensions": ["binary_tensor_data"]}
        )

    @router.get("/v2/health/live", summary="Liveness")
    def live() -> Response:
        return json_response({"live": True})

    @router.get("/v2/health/ready", summary="Readiness (model, store and writer)")
    async def ready(request: Request) -> Response:
        ok = True
        for state in states(request):
            checks = await state.readiness()
            ok = ok and all(good for good, _ in checks.values())
        return json_response({"ready": ok}, 200 if ok else 503)

    @router.get("/v2/models/{name}", summary="Model metadata")
    def metadata(name: str, request: Request) -> Response:
        found = lookup(request, name)
        return _no_model(name) if found is None else json_response(model_metadata(found[1]))

    @router.get("/v2/models/{name}/ready", summary="Model readiness")
    async def model_ready(name: str, request: Request) -> Response:
        found = lookup(request, name)
        if found is None:
            return _no_model(name)
        ok = await found[1].backend.ready()
        return json_response({"name": name, "ready": ok}, 200 if ok else 503)

    scoring = APIRouter(dependencies=[Depends(guard)])

    @scoring.post("/v2/models/{name}/infer", summary="Score named input tensors")
    async def model_infer(name: str, request: Request) -> Response:
        found = lookup(request, name)
        return _no_model(name) if found is None else await infer(request, *found)

    @scoring.post("/v2/models/{name}/versions/{version}/infer", summary="Score (a version)")
    async def version_infer(name: str, version: str, request: Request) -> Response:
        found = lookup(request, name)
        if found is None or found[1].info.model_version != version:
            return _error(404, f"version: model {name!r} has no version {version!r} served")
        return await infer(request, *found)

    router.include_router(scoring)
    return router


__all__ = [
    "OUTPUT_NAMES",
    "AllStates",
    "Lookup",
    "model_metadata",
    "v2_batch",
    "v2_router",
    "wanted_outputs",
]
