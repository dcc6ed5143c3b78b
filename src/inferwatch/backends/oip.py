"""Score with a model server that speaks the Open Inference Protocol (KServe v2).

MLServer, KServe's model servers and Triton answer ``POST <url>/v2/models/<name>/infer``.
A request carries one named tensor per input column, built from the schema: ``FP64`` for a
numeric feature, ``BYTES`` for a categorical one (each with the ``str`` content type), and the
request asks for a pandas decoding (``"content_type": "pd"``), so a scikit-learn runtime sees
a DataFrame with the column names it was trained on. For a classifier the request names the
outputs it wants back: ``predict`` and ``predict_proba`` (MLServer's scikit-learn runtime
returns only ``predict`` unless asked).

The answer's ``outputs`` are read back by name (``predict``, ``predictions``, ``label``, ...
for labels or values; ``predict_proba``, ``probabilities``, ... for class probabilities) or,
for an answer with unnamed tensors, by shape: one value per row is a label, one value per
class per row is a probability row. Readiness is ``/v2/health/ready`` and
``/v2/models/<name>/ready``. Errors follow the MLflow upstream: 400/422 from the server is the
model refusing the rows (422), anything else 502, no answer in time 504.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np

from inferwatch.backends.base import BackendError, ModelInput, ModelOutput, batch_rows, column
from inferwatch.backends.upstream import UpstreamModelBackend
from inferwatch.lifecycle.modeldir import ModelMetadata

_LABEL_NAMES = ("predict", "predictions", "prediction", "label", "labels", "output_label")
_PROBA_NAMES = ("predict_proba", "probabilities", "probability", "proba", "scores")


def _bad(message: str) -> BackendError:
    return BackendError("upstream", f"bad answer from the upstream model: {message}")


def _tensor(name: str, col: np.ndarray, numeric: bool) -> dict[str, Any]:
    n = len(col)
    if numeric:
        values = np.asarray(col, dtype=np.float64)
        if not np.isfinite(values).all():
            raise BackendError(
                "model", f"{name}: missing or infinite values cannot be sent as a v2 tensor"
            )
        return {"name": name, "datatype": "FP64", "shape": [n], "data": values.tolist()}
    texts: list[str] = []
    for v in col.tolist():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            raise BackendError("model", f"{name}: missing values cannot be sent as a v2 tensor")
        texts.append(str(v))
    return {
        "name": name,
        "datatype": "BYTES",
        "shape": [n],
        "data": texts,
        "parameters": {"content_type": "str"},
    }


def infer_payload(
    frame: ModelInput,
    names: Sequence[str],
    *,
    categorical: frozenset[str] = frozenset(),
    outputs: Sequence[str] = (),
) -> bytes:
    """The v2 inference request for ``frame``: one tensor per column in ``names``.

    >>> import numpy as np
    >>> body = infer_payload({"x": np.array([1.0]), "c": np.array(["a"], dtype=object)},
    ...                      ["x", "c"], categorical=frozenset({"c"}))
    >>> [(t["name"], t["datatype"], t["data"]) for t in json.loads(body)["inputs"]]
    [('x', 'FP64', [1.0]), ('c', 'BYTES', ['a'])]
    """
    inputs = []
    for name in names:
        col = column(frame, name)
        numeric = name not in categorical and col.dtype.kind in "iufb"
        inputs.append(_tensor(name, col, numeric))
    body: dict[str, Any] = {"inputs": inputs, "parameters": {"content_type": "pd"}}
    if outputs:
        body["outputs"] = [{"name": o} for o in outputs]
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def _values(tensor: Mapping[str, Any], rows: int) -> np.ndarray:
    """A tensor's data as an array of ``rows`` rows (2-D when it has more per row)."""
    data = tensor.get("data")
    if not isinstance(data, list):
        raise _bad(f"output {tensor.get('name')!r} has no data list")
    flat = np.asarray(data, dtype=object).reshape(-1) if data else np.empty(0, dtype=object)
    if rows == 0 or flat.size % rows:
        raise _bad(f"output {tensor.get('name')!r}: {flat.size} values for {rows} rows")
    width = flat.size // rows
    return flat.reshape(rows, width) if width > 1 else flat


def _decode(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _pick(outputs: list[dict[str, Any]], names: Sequence[str]) -> dict[str, Any] | None:
    by_name = {str(o.get("name", "")).lower(): o for o in outputs}
    return next((by_name[n] for n in names if n in by_name), None)


def _label_text(value: Any, known: frozenset[str]) -> str:
    value = _decode(value)
    if isinstance(value, float) and value.is_integer() and str(value) not in known:
        return str(int(value))
    return str(value)


def parse_infer_answer(answer: Any, rows: int, metadata: ModelMetadata) -> ModelOutput:
    """Read a v2 inference answer for ``rows`` rows.

    >>> from inferwatch.lifecycle.modeldir import ModelMetadata
    >>> meta = ModelMetadata(name="m", version="1", task="classification",
    ...                      feature_names=["x"], classes=["a", "b"])
    >>> out = parse_infer_answer({"outputs": [{"name": "predict_proba", "datatype": "FP64",
    ...     "shape": [1, 2], "data": [0.2, 0.8]}]}, 1, meta)
    >>> out.predictions.tolist(), out.probabilities.tolist()
    (['b'], [[0.2, 0.8]])
    """
    outputs = answer.get("outputs") if isinstance(answer, dict) else None
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise _bad("expected {'outputs': [tensors]}")
    if not outputs:
        raise _bad("no outputs")
    label_t = _pick(outputs, _LABEL_NAMES)
    proba_t = _pick(outputs, _PROBA_NAMES)
    classes = list(metadata.classes or [])
    if label_t is None and proba_t is None:  # unnamed tensors: judge by shape
        for tensor in outputs:
            values = _values(tensor, rows)
            if values.ndim == 2 and classes and values.shape[1] == len(classes):
                proba_t = tensor
            elif values.ndim == 1 and label_t is None:
                label_t = tensor
    if metadata.task == "regression":
        if label_t is None:
            raise _bad("no prediction output")
        try:
            return ModelOutput(np.asarray(_values(label_t, rows), dtype=np.float64).reshape(rows))
        except (TypeError, ValueError) as exc:
            raise _bad("predictions are not numbers") from exc

    probabilities = None
    if proba_t is not None:
        try:
            probabilities = np.asarray(_values(proba_t, rows), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise _bad("probabilities are not numbers") from exc
        if probabilities.ndim != 2 or probabilities.shape[1] != len(classes):
            raise _bad(f"probabilities do not have {len(classes)} columns")
        if not np.isfinite(probabilities).all():
            raise _bad("probabilities are not finite")
    predictions = np.empty(rows, dtype=object)
    if label_t is not None:
        labels = _values(label_t, rows)
        if labels.ndim != 1:
            raise _bad("more than one prediction per row")
        known = frozenset(classes)
        for i, value in enumerate(labels.tolist()):
            predictions[i] = _label_text(value, known)
    elif probabilities is not None:
        for i, k in enumerate(np.argmax(probabilities, axis=1).tolist()):
            predictions[i] = classes[k]
    else:
        raise _bad("no prediction output")
    return ModelOutput(predictions, probabilities)


class OipModelBackend(UpstreamModelBackend):
    """Front an Open Inference Protocol server at ``url`` serving ``model_name`` (the model
    directory's name unless given). ``categorical`` names the columns sent as ``BYTES``."""

    def __init__(
        self,
        url: str,
        bundle_metadata: ModelMetadata,
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
        *,
        model_name: str | None = None,
        categorical: Sequence[str] = (),
        connect_timeout: float = 2.0,
        max_connections: int = 100,
        max_answer_bytes: int = 20_000_000,
        token: str | None = None,
    ) -> None:
        super().__init__(
            url,
            bundle_metadata,
            timeout,
            client,
            connect_timeout=connect_timeout,
            max_connections=max_connections,
            max_answer_bytes=max_answer_bytes,
            token=token,
        )
        self.model_name = model_name or bundle_metadata.name
        self._model_path = f"/v2/models/{quote(self.model_name, safe='')}"
        self._categorical = frozenset(categorical)
        wanted = ("predict", "predict_proba") if bundle_metadata.task == "classification" else ()
        self._outputs: tuple[str, ...] = wanted

    async def predict(self, frame: ModelInput) -> ModelOutput:
        rows = batch_rows(frame)
        body = infer_payload(
            frame, self._names, categorical=self._categorical, outputs=self._outputs
        )
        answer = await self._post_json(f"{self._model_path}/infer", body)
        return parse_infer_answer(answer, rows, self._metadata)

    async def ready(self) -> bool:
        """True when the server and the model both say they are ready."""
        for path in ("/v2/health/ready", f"{self._model_path}/ready"):
            if not await self._get_ok(path):
                return False
        return True


__all__ = ["OipModelBackend", "infer_payload", "parse_infer_answer"]
