"""Predictions made elsewhere: checking what a caller logs (``POST /log``, ``Watcher.log``).

A logged batch is rows of features plus the predictions the caller's own model made (and
its class probabilities, if any) and, optionally, ids of the caller's choosing so labels can
follow later. ``check_outputs`` turns what was sent into the arrays the store and the monitor
take, or raises ``LogRejected`` naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from inferwatch.lifecycle.modeldir import ModelMetadata

MAX_ID_LENGTH = 128


class LogRejected(ValueError):
    """Logged outputs that cannot be used; ``field`` names the offending part."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = f"{field}: {detail}"


def _predictions(meta: ModelMetadata, values: Sequence[Any]) -> np.ndarray:
    if meta.task == "regression":
        out = np.empty(len(values), dtype=np.float64)
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise LogRejected(f"predictions[{i}]", "expected a finite number")
            out[i] = float(v)
        return out
    known = set(meta.classes or [])
    labels = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise LogRejected(f"predictions[{i}]", "expected a class (string or number)")
        text = str(v)
        if known and text not in known:
            if isinstance(v, float) and v.is_integer() and str(int(v)) in known:
                text = str(int(v))
            else:
                raise LogRejected(f"predictions[{i}]", f"{text!r} is not one of the classes")
        labels[i] = text
    return labels


def _probabilities(meta: ModelMetadata, values: Any, n: int) -> np.ndarray:
    classes = meta.classes or []
    if meta.task != "classification" or not classes:
        raise LogRejected("probabilities", "only a classifier has class probabilities")
    if not isinstance(values, (list, tuple, np.ndarray)) or len(values) != n:
        raise LogRejected("probabilities", f"expected {n} rows of {len(classes)} probabilities")
    rows = []
    for i, row in enumerate(values):
        if isinstance(row, dict):
            if not all(c in row for c in classes):
                raise LogRejected(f"probabilities[{i}]", f"expected every class of {classes}")
            row = [row[c] for c in classes]
        if not isinstance(row, (list, tuple, np.ndarray)) or len(row) != len(classes):
            raise LogRejected(f"probabilities[{i}]", f"expected {len(classes)} probabilities")
        rows.append(row)
    try:
        out = np.asarray(rows, dtype=np.float64).reshape(n, len(classes))
    except (TypeError, ValueError):
        raise LogRejected("probabilities", "expected numbers") from None
    bad = ~np.isfinite(out).all(axis=1) | (out < 0).any(axis=1) | (out > 1).any(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        raise LogRejected(f"probabilities[{i}]", "expected numbers between 0 and 1")
    return out


def check_ids(ids: Any, n: int) -> list[str] | None:
    """Caller-chosen ids: ``None``, or ``n`` distinct non-empty strings."""
    if ids is None:
        return None
    if not isinstance(ids, (list, tuple)) or len(ids) != n:
        raise LogRejected("ids", f"expected {n} ids, one per row")
    for i, pid in enumerate(ids):
        if not isinstance(pid, str) or not pid or len(pid) > MAX_ID_LENGTH:
            raise LogRejected(f"ids[{i}]", f"expected a string of 1 to {MAX_ID_LENGTH} characters")
    if len(set(ids)) != n:
        raise LogRejected("ids", "ids repeat within the batch")
    return list(ids)


def check_outputs(
    meta: ModelMetadata, n: int, predictions: Any, probabilities: Any = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The logged predictions (``str`` classes or float values) and probabilities
    (rows x classes in the model's class order) for ``n`` rows.

    >>> from inferwatch.lifecycle.modeldir import ModelMetadata
    >>> meta = ModelMetadata(name="m", version="1", task="classification",
    ...                      feature_names=["x"], classes=["a", "b"])
    >>> preds, probs = check_outputs(meta, 1, ["b"], [[0.1, 0.9]])
    >>> preds.tolist(), probs.tolist()
    (['b'], [[0.1, 0.9]])
    """
    if isinstance(predictions, np.ndarray):
        predictions = predictions.tolist()
    if not isinstance(predictions, (list, tuple)):
        raise LogRejected("predictions", "expected a list, one prediction per row")
    if len(predictions) != n:
        raise LogRejected("predictions", f"{len(predictions)} predictions for {n} rows")
    preds = _predictions(meta, predictions)
    probs = None if probabilities is None else _probabilities(meta, probabilities, n)
    return preds, probs


__all__ = ["MAX_ID_LENGTH", "LogRejected", "check_ids", "check_outputs"]
