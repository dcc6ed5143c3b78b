"""KServe's inference logger, as it sends: a CloudEvent for each request and each response.

The logger POSTs the model's request body with ``ce-type:
org.kubeflow.serving.inference.request`` and, separately, the response body with ``ce-type:
org.kubeflow.serving.inference.response``; both carry the same ``ce-id``. Either may come
first. ``PendingHalves`` keeps the first half until its partner arrives, holding at most
``max_pending`` ids for at most ``ttl`` seconds (the oldest go first; they are counted).

Payloads come in the v1 form (``{"instances": [...]}`` / ``{"predictions": [...]}``) or the
v2 form (``{"inputs": [tensors]}`` / ``{"outputs": [tensors]}``). ``request_rows`` reads the
rows of a request body.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Half = Literal["request", "response"]
REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"


def event_half(ce_type: str) -> Half | None:
    """Which half a ``ce-type`` names (``None``: neither)."""
    kind = ce_type.rsplit(".", 1)[-1].lower()
    if kind == "request":
        return "request"
    if kind == "response":
        return "response"
    return None


@dataclass
class _Waiting:
    half: Half
    body: Any
    at: float


class PendingHalves:
    """First halves waiting for their partner, by ``ce-id``.

    >>> halves = PendingHalves(max_pending=2, ttl=60.0)
    >>> halves.add("a", "response", {"predictions": [1]}, now=0.0) is None
    True
    >>> halves.add("a", "request", {"instances": [[1.0]]}, now=1.0)
    ({'instances': [[1.0]]}, {'predictions': [1]})
    >>> for i, t in enumerate((2.0, 3.0, 4.0)):
    ...     _ = halves.add(f"b{i}", "request", {}, now=t)
    >>> len(halves), halves.dropped          # bounded: the oldest went
    (2, 1)
    >>> halves.expire(now=100.0)             # expired: older than ttl
    >>> len(halves), halves.dropped
    (0, 3)
    """

    def __init__(self, max_pending: int = 10_000, ttl: float = 300.0) -> None:
        self.max_pending = max_pending
        self.ttl = ttl
        self.dropped = 0
        """Halves dropped unjoined (expired or pushed out)."""
        self._waiting: OrderedDict[str, _Waiting] = OrderedDict()
        self._lock = threading.Lock()  # a scrape expires them from another thread

    def __len__(self) -> int:
        return len(self._waiting)

    def expire(self, now: float) -> None:
        with self._lock:
            self._expire(now)

    def _expire(self, now: float) -> None:
        while self._waiting:
            first = next(iter(self._waiting.values()))
            if now - first.at <= self.ttl:
                break
            self._waiting.popitem(last=False)
            self.dropped += 1

    def add(self, ce_id: str, half: Half, body: Any, now: float) -> tuple[Any, Any] | None:
        """Record one half; returns ``(request, response)`` bodies when both are here."""
        with self._lock:
            self._expire(now)
            other = self._waiting.get(ce_id)
            if other is not None and other.half != half:
                del self._waiting[ce_id]
                return (body, other.body) if half == "request" else (other.body, body)
            if other is not None:  # the same half again: the later one wins
                del self._waiting[ce_id]
            self._waiting[ce_id] = _Waiting(half, body, now)
            while len(self._waiting) > self.max_pending:
                self._waiting.popitem(last=False)
                self.dropped += 1
            return None


def tensor_rows(tensors: Sequence[Any], names: Sequence[str]) -> tuple[list[str], list[Any]]:
    """v2 input tensors to ``(columns, rows)``: one tensor per feature, or one 2-D tensor
    whose columns are the features in order."""
    if not all(isinstance(t, Mapping) and isinstance(t.get("data"), list) for t in tensors):
        raise ValueError("inputs: expected tensors with a data list")
    try:
        return _rows(tensors, names)
    except (TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"inputs: tensors do not fit their shapes ({exc})") from None


def _rows(tensors: Sequence[Any], names: Sequence[str]) -> tuple[list[str], list[Any]]:
    by_name = {str(t.get("name")): t for t in tensors}
    if len(tensors) == 1 and tensors[0].get("name") not in names:
        t = tensors[0]
        data = t["data"]
        shape = t.get("shape") or [len(data)]
        width = int(shape[-1]) if len(shape) > 1 else 1
        if data and isinstance(data[0], list):
            return list(names), data
        if width == 0 or len(data) % width:
            raise ValueError("inputs[0]: data does not fit its shape")
        return list(names), [data[i : i + width] for i in range(0, len(data), width)]
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(f"inputs: no tensor named {missing[0]!r}")
    columns = [_flat(by_name[n]["data"]) for n in names]
    return list(names), [list(r) for r in zip(*columns, strict=True)]


def _flat(data: list[Any]) -> list[Any]:
    if data and isinstance(data[0], list):
        return [v[0] if isinstance(v, list) and len(v) == 1 else v for v in data]
    return data


def request_rows(body: Any, names: Sequence[str]) -> tuple[list[str], list[Any]] | list[Any]:
    """The rows of a logged request: ``(columns, rows)`` for lists of values, or a list of
    objects (``[{feature: value}, ...]``). Raises ``ValueError`` naming the field."""
    if not isinstance(body, Mapping):
        raise ValueError("body: expected a JSON object")
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise ValueError("instances: expected a non-empty list")
        if isinstance(rows[0], Mapping):
            return rows
        return list(names), rows
    if "inputs" in body and isinstance(body["inputs"], list):
        return tensor_rows(body["inputs"], names)
    raise ValueError('body: expected {"instances": [...]} or {"inputs": [tensors]}')


__all__ = [
    "REQUEST_TYPE",
    "RESPONSE_TYPE",
    "Half",
    "PendingHalves",
    "event_half",
    "request_rows",
    "tensor_rows",
]
