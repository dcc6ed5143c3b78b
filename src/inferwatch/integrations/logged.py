"""Predictions made elsewhere: checking what a caller logs (``POST /log``, ``Watcher.log``).

A logged batch is rows of features plus the predictions the caller's own model made (and
its class probabilities, if any) and, optionally, ids of the caller's choosing so labels can
follow later. ``check_outputs`` turns what was sent into the arrays the store and the monitor
take, or raises ``LogRejected`` naming the field.

Labels are checked here too, by one rule wherever they come from (``/feedback``,
``Watcher.feedback``, and labels sent with their rows to ``/predict``, ``/log`` and
``Watcher.log``): ``check_label`` judges one, ``check_labels`` a column of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from inferwatch.core.jsonbody import printable
from inferwatch.lifecycle.modeldir import ModelMetadata

MAX_ID_LENGTH = 128


def _class_label(label: Any, classes: Sequence[str] | None) -> str | None:
    """The class ``label`` names (as the model spells it), or ``None`` if it names none."""
    if isinstance(label, bool) or not isinstance(label, (str, int, float)):
        return None
    if isinstance(label, float) and not math.isfinite(label):
        return None
    text = str(label)
    if classes is None or text in classes:
        return text
    if isinstance(label, float) and label.is_integer() and str(int(label)) in classes:
        return str(int(label))
    return None


def check_label(
    label: Any, where: str, task: str, classes: Sequence[str] | None
) -> tuple[str | float, None] | tuple[None, str]:
    """``(label, None)`` as stored (a class as the model spells it, or a float), or
    ``(None, reason)`` naming ``where``: a classifier's label must be one of the model's
    ``classes``, a regressor's a finite number. A numpy scalar (from an array or a pandas
    Series in Python callers) counts as the Python value it holds."""
    if isinstance(label, np.generic):
        label = label.item()
    if task == "regression":
        if isinstance(label, bool) or not isinstance(label, (int, float)):
            return None, f"{where}: expected a number"
        try:
            value = float(label)
        except OverflowError:
            return None, f"{where}: number too large"
        if not math.isfinite(value):
            return None, f"{where}: not finite"
        return value, None
    name = _class_label(label, classes)
    if name is None:
        if isinstance(label, (str, int, float)) and not isinstance(label, bool):
            shown = repr(printable(str(label))[:40])
        else:
            shown = f"a {type(label).__name__}"
        known = ", ".join(classes[:10]) if classes else "a class"
        return None, f"{where}: {shown} is not one of the model's classes ({known})"
    return name, None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def check_labels(
    labels: Any, n: int, task: str, classes: Sequence[str] | None
) -> list[str | float | None]:
    """The labels sent with ``n`` rows, one per row (``None``: the row has none; in a numpy
    array or pandas Series, NaN too), as stored; ``LogRejected`` naming ``labels`` (not a
    list of ``n``) or ``labels[i]`` (the first unusable one). All or nothing: the rows are
    refused with their labels.

    >>> check_labels(["b", None], 2, "classification", ["a", "b"])
    ['b', None]
    >>> check_labels([1.5], 1, "regression", None)
    [1.5]
    >>> check_labels(["b", "z"], 2, "classification", ["a", "b"])
    Traceback (most recent call last):
    inferwatch.integrations.logged.LogRejected: labels[1]: 'z' is not one of the model's ...
    """
    if isinstance(labels, np.ndarray) or hasattr(labels, "to_list"):  # numpy, pandas:
        labels = [None if _missing(x) else x for x in labels.tolist()]  # NaN is no label
    elif isinstance(labels, tuple):
        labels = list(labels)
    if not isinstance(labels, list) or len(labels) != n:
        raise LogRejected("labels", f"expected a list of {n} labels (or nulls), one per row")
    if task != "regression" and classes is not None:
        known = frozenset(classes)
        if all(type(label) is str and label in known for label in labels):
            return labels  # the usual case: every label a class as the model spells it
    out: list[str | float | None] = []
    for i, label in enumerate(labels):
        if label is None:
            out.append(None)
            continue
        where = f"labels[{i}]"
        value, reason = check_label(label, where, task, classes)
        if reason is not None:
            raise LogRejected(where, reason.removeprefix(f"{where}: "))
        out.append(value)
    return out


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


__all__ = [
    "MAX_ID_LENGTH",
    "LogRejected",
    "check_ids",
    "check_label",
    "check_labels",
    "check_outputs",
]
