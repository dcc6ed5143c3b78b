"""Score with a model server that speaks the MLflow scoring protocol.

Requests are ``POST <url>/invocations`` with ``{"dataframe_split": {"columns", "data"}}``;
answers are ``{"predictions": [...]}`` (or a bare list) whose items are labels or values,
lists of class probabilities, or objects holding either. One pooled ``httpx.AsyncClient``
carries all requests; every request has a deadline, so nothing waits forever.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from typing import Any

import anyio
import httpx
import numpy as np

from inferwatch.backends.base import BackendError, ModelInput, ModelOutput, batch_rows, column
from inferwatch.core import jsonbody
from inferwatch.lifecycle.modeldir import ModelMetadata

_LABEL_KEYS = ("prediction", "predicted_label", "label", "class", "predicted_class", "predictions")
_PROBA_KEYS = ("probabilities", "probability", "proba", "predict_proba", "scores")
_VALUE_KEYS = ("prediction", "predictions", "value", "score", "output")


def _bad(message: str) -> BackendError:
    return BackendError("upstream", f"bad answer from the upstream model: {message}")


def request_payload(frame: ModelInput, names: Sequence[str]) -> bytes:
    """The ``dataframe_split`` request body for ``frame`` (NaN becomes ``null``)."""
    lists: list[list[Any]] = []
    for name in names:
        col = column(frame, name)
        if col.dtype.kind == "f":
            finite = np.isfinite(col)
            if not finite.all():
                if np.isinf(col).any():
                    raise BackendError("model", f"{name}: infinite values cannot be sent upstream")
                pairs = zip(col.tolist(), finite.tolist(), strict=True)
                lists.append([v if ok else None for v, ok in pairs])
                continue
        elif col.dtype.kind == "O":  # pandas string columns hold missing as NaN
            lists.append([None if isinstance(v, float) and v != v else v for v in col.tolist()])
            continue
        lists.append(col.tolist())
    data = [list(row) for row in zip(*lists, strict=True)] if lists else []
    body = {"dataframe_split": {"columns": list(names), "data": data}}
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def _label(value: Any, known: frozenset[str]) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)):
        text = str(value)
        if text not in known and isinstance(value, float) and value.is_integer():
            return str(int(value))
        return text
    raise _bad(f"expected a class label, got {type(value).__name__}")


def _probability_row(value: Any, classes: Sequence[str]) -> list[float] | None:
    """Probabilities in ``classes`` order from a list or a ``{class: p}`` object."""
    if isinstance(value, dict):
        if all(c in value for c in classes):
            value = [value[c] for c in classes]
        else:
            return None
    if (
        isinstance(value, list)
        and len(value) == len(classes)
        and all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in value)
    ):
        return [float(p) for p in value]
    return None


def _from_object(item: dict[str, Any], classes: Sequence[str]) -> tuple[Any, list[float] | None]:
    label = next((item[k] for k in _LABEL_KEYS if k in item), None)
    proba = None
    for k in _PROBA_KEYS:
        if k in item:
            proba = _probability_row(item[k], classes)
            break
    if proba is None and classes:
        proba = _probability_row(item, classes)
    if proba is None and classes:
        prefixed = {c: item.get(f"proba_{c}", item.get(f"probability_{c}")) for c in classes}
        if all(v is not None for v in prefixed.values()):
            proba = _probability_row(prefixed, classes)
    return label, proba


def _records(answer: Any) -> list[Any]:
    items = answer.get("predictions", answer.get("outputs")) if isinstance(answer, dict) else answer
    if isinstance(items, dict):  # column-oriented output: {"col": [...], ...}
        cols = list(items.values())
        if not cols or not all(isinstance(c, list) for c in cols):
            raise _bad("predictions object is not column-oriented")
        items = [dict(zip(items.keys(), row, strict=True)) for row in zip(*cols, strict=True)]
    if not isinstance(items, list):
        raise _bad("expected {'predictions': [...]} or a list")
    return items


def parse_answer(answer: Any, rows: int, metadata: ModelMetadata) -> ModelOutput:
    """Read an MLflow scoring answer for ``rows`` rows of a model described by ``metadata``.

    >>> from inferwatch.lifecycle.modeldir import ModelMetadata
    >>> meta = ModelMetadata(name="m", version="1", task="classification",
    ...                      feature_names=["x"], classes=["a", "b"])
    >>> out = parse_answer({"predictions": [[0.2, 0.8]]}, 1, meta)
    >>> out.predictions.tolist(), out.probabilities.tolist()
    (['b'], [[0.2, 0.8]])
    """
    items = _records(answer)
    if len(items) != rows:
        raise _bad(f"{len(items)} predictions for {rows} rows")
    if metadata.task == "regression":
        return ModelOutput(_regression_values(items, rows), None)
    classes = list(metadata.classes or [])
    labels, probas = _labels_and_probabilities(items, classes)
    probabilities: np.ndarray | None = None
    if all(p is not None for p in probas):
        probabilities = np.asarray(probas, dtype=np.float64).reshape(rows, len(classes))
        if not np.isfinite(probabilities).all():
            raise _bad("probabilities are not finite")
    predictions = np.empty(rows, dtype=object)
    known = frozenset(classes)
    for i, label in enumerate(labels):
        if label is None:
            row = probas[i]
            assert row is not None
            predictions[i] = classes[int(np.argmax(row))]
        else:
            predictions[i] = _label(label, known)
    return ModelOutput(predictions, probabilities)


def _regression_values(items: list[Any], rows: int) -> np.ndarray:
    """One number per prediction: bare, in a one-item list, or under a value key."""
    values = np.empty(rows, dtype=np.float64)
    for i, item in enumerate(items):
        v = item
        if isinstance(v, dict):
            v = next((v[k] for k in _VALUE_KEYS if k in v), None)
        if isinstance(v, list) and len(v) == 1:
            v = v[0]
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise _bad(f"prediction {i} is not a number")
        values[i] = float(v)
    return values


def _labels_and_probabilities(
    items: list[Any], classes: list[Any]
) -> tuple[list[Any], list[list[float] | None]]:
    """Per prediction, the label and the class probabilities the answer gave (either may be None,
    not both)."""
    labels: list[Any] = []
    probas: list[list[float] | None] = []
    for item in items:
        if isinstance(item, dict):
            label, proba = _from_object(item, classes)
        elif isinstance(item, list):
            label, proba = None, _probability_row(item, classes)
            if proba is None:
                if len(item) == 1:
                    label = item[0]
                else:
                    raise _bad(f"{len(item)} values in a row, the model has {len(classes)} classes")
        else:
            label, proba = item, None
        if label is None and proba is None:
            raise _bad(f"no prediction in {str(item)[:80]}")
        labels.append(label)
        probas.append(proba)
    return labels, probas


def _error_message(body: bytes) -> str:
    try:
        answer = jsonbody.parse(body)
    except jsonbody.JsonError:
        return jsonbody.printable(body[:200].decode("utf-8", "replace"))
    if isinstance(answer, dict):
        for key in ("message", "detail", "error"):
            if key in answer:
                return str(answer[key])[:200]
    return str(answer)[:200]


def split_credentials(url: str) -> tuple[str, httpx.BasicAuth | None]:
    """``url`` without its user-info, and that user-info as basic auth (if any), so the
    credentials travel in a header and never appear in an address that is shown or logged."""
    parsed = httpx.URL(url)
    if not parsed.userinfo:
        return url, None
    auth = httpx.BasicAuth(parsed.username, parsed.password)
    return str(parsed.copy_with(username=None, password=None)), auth


def redact_url(url: str | None) -> str | None:
    """``url`` with any user-info removed, for snapshots, errors and logs."""
    if url is None:
        return None
    try:
        return split_credentials(url)[0]
    except httpx.InvalidURL:
        return "(an invalid URL)"


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` on every request; the token is never part of the
    object's text (``repr``), so it cannot reach a log or an error by accident."""

    def __init__(self, token: str) -> None:
        if not token or any(c in token for c in "\r\n"):
            raise ValueError("the upstream token must be one non-empty line")
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(***)"


def upstream_auth(url: str, token: str | None) -> tuple[str, httpx.Auth | None]:
    """``url`` without user-info, and the credentials to send: the URL's user-info as basic
    auth, or ``token`` as a bearer token; both at once is a configuration error."""
    clean, basic = split_credentials(url)
    if basic is not None and token:
        raise ValueError(
            "the upstream has credentials twice: user-info in its URL and a token "
            "(INFERWATCH_UPSTREAM_TOKEN or _FILE); keep one"
        )
    return clean, basic if basic is not None else BearerAuth(token) if token else None


async def read_bounded(response: httpx.Response, limit: int) -> bytes:
    """The answer's body, refused (502) once it is larger than ``limit`` bytes: read in
    chunks, so a huge answer costs at most ``limit`` bytes of memory."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _bad(f"the answer is {int(declared)} bytes, over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _bad(f"the answer is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class UpstreamModelBackend:
    """Front a model server at ``url`` (MLflow ``mlflow models serve`` or compatible).

    ``timeout`` bounds a whole request in seconds (connect, send and answer); connecting alone
    gets at most ``connect_timeout``; an answer over ``max_answer_bytes`` is a 502. User-info
    in ``url`` (``http://user:secret@host``) is sent as basic auth and kept out of ``url``;
    ``token`` is sent as a bearer token instead.
    Pass ``client`` to share a pool; otherwise the backend owns one and ``aclose()`` closes it.
    """

    def __init__(
        self,
        url: str,
        bundle_metadata: ModelMetadata,
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
        *,
        connect_timeout: float = 2.0,
        max_connections: int = 100,
        max_answer_bytes: int = 20_000_000,
        token: str | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        clean, auth = upstream_auth(url, token)
        # without credentials of its own, a shared client keeps its own auth
        self._auth: dict[str, Any] = {} if auth is None else {"auth": auth}
        self.url = clean.rstrip("/")
        self.max_answer_bytes = max_answer_bytes
        self._metadata = bundle_metadata
        self._names = list(bundle_metadata.feature_names)
        self.timeout = timeout
        self._http_timeout = httpx.Timeout(timeout, connect=min(timeout, connect_timeout))
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=self._http_timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    @property
    def metadata(self) -> ModelMetadata:
        return self._metadata

    async def predict(self, frame: ModelInput) -> ModelOutput:
        rows = batch_rows(frame)
        answer = await self._post_json("/invocations", request_payload(frame, self._names))
        return parse_answer(answer, rows, self._metadata)

    async def _post_json(self, path: str, body: bytes) -> Any:
        """POST ``body`` to ``<url><path>`` and return the decoded JSON answer, mapping every
        failure to a ``BackendError`` (400/422: model, other statuses: upstream, no answer in
        time: timeout)."""
        endpoint = f"{self.url}{path}"
        try:
            with anyio.fail_after(self.timeout):
                status, answer_body = await self._post(endpoint, body)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise BackendError(
                "timeout", f"no answer from {endpoint} within {self.timeout:g}s"
            ) from exc
        except httpx.HTTPError as exc:
            raise BackendError(
                "upstream", f"cannot reach {endpoint}: {type(exc).__name__}: {exc}"
            ) from exc
        if status in (400, 422):
            raise BackendError(
                "model",
                f"the upstream model rejected the rows ({status}): {_error_message(answer_body)}",
            )
        if status != 200:
            raise BackendError(
                "upstream", f"{endpoint} answered {status}: {_error_message(answer_body)}"
            )
        try:
            return jsonbody.parse(answer_body, "answer")
        except jsonbody.JsonError as exc:
            raise _bad(f"not usable JSON: {exc.detail}") from None

    async def _get_ok(self, path: str) -> bool | None:
        """Whether ``GET <url><path>`` answers 200 (``None`` for a 404: no such route)."""
        probe_timeout = min(self.timeout, 2.0)
        try:
            with anyio.fail_after(probe_timeout):
                response = await self._client.get(
                    f"{self.url}{path}", timeout=probe_timeout, **self._auth
                )
        except (TimeoutError, httpx.HTTPError):
            return False
        if response.status_code == 404:
            return None
        return response.status_code == 200

    async def _post(self, endpoint: str, body: bytes) -> tuple[int, bytes]:
        async with self._client.stream(
            "POST",
            endpoint,
            content=body,
            headers={"content-type": "application/json"},
            timeout=self._http_timeout,
            **self._auth,
        ) as response:
            return response.status_code, await read_bounded(response, self.max_answer_bytes)

    async def ready(self) -> bool:
        """True if ``/ping`` (MLflow) or ``/health`` answers 200."""
        for path in ("/ping", "/health"):
            ok = await self._get_ok(path)
            if ok is not None:
                return ok
        return False

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


__all__ = [
    "UpstreamModelBackend",
    "parse_answer",
    "read_bounded",
    "redact_url",
    "request_payload",
    "split_credentials",
]
