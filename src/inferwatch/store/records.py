"""The rows the prediction store keeps and answers: plain frozen dataclasses, and named
tuples for the two made once per label (``LabelItem``, ``LabelOutcome``), which cost a
third as much to build."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np

LabelOutcomeKind = Literal["matched", "unknown_id", "duplicate"]
OUTCOMES: tuple[LabelOutcomeKind, ...] = ("matched", "unknown_id", "duplicate")


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One scored row. ``features`` must be JSON-serialisable (numpy scalars are converted);
    ``prediction`` is a class label (``str``) or a value (``float``)."""

    id: str
    timestamp: float
    model: str
    model_version: str
    features: Mapping[str, Any]
    prediction: str | float
    confidence: float | None = None
    probabilities: Sequence[float] | None = None
    coerced: tuple[str, ...] = ()
    """Features whose value was sent as another type and converted (``wrong_type``)."""


class LabelledRowsStored(ValueError):
    """Rows that came with labels have ids stored before (another replica's, meanwhile): the
    write fails rather than label a prediction the rows did not make."""

    def __init__(self, stored: int) -> None:
        super().__init__(f"{stored} of the labelled rows have ids stored before")


@dataclass(frozen=True, slots=True)
class PredictionBatch:
    """The rows of one request, as columns: what the server hands the store.

    ``features`` is the core's batch (one 1-D array per column, all ``len(ids)`` long);
    ``predictions`` holds class labels (``str``) or values; ``probabilities`` is rows x
    classes or ``None``. Every row shares ``timestamp``, ``model`` and ``model_version``.
    Stored as one columnar blob per transaction plus one slim row per prediction, which
    costs a fraction of per-row records.
    """

    ids: Sequence[str]
    timestamp: float
    model: str
    model_version: str
    features: Mapping[str, np.ndarray]
    predictions: np.ndarray
    probabilities: np.ndarray | None = None
    coerced: Mapping[str, np.ndarray] | None = None
    """Per feature, a boolean mask of the rows whose value was converted from another type
    (counted ``wrong_type``; kept so a restart counts them again). ``None``: none were."""
    labels: Sequence[str | float | None] | None = None
    """The rows' ground truth when it came with them (``None`` for a row without one), as
    stored: a class as the model spells it, or a float. Stored with the rows, in the same
    transaction, as labels received at the write; the rows' ids must be new (a row stored
    before fails the write). ``None``: no labels came with the rows."""

    def __len__(self) -> int:
        return len(self.ids)

    def labelled(self) -> int:
        """How many rows came with a label."""
        return 0 if self.labels is None else len(self.labels) - self.labels.count(None)

    def labelled_rows(self) -> tuple[np.ndarray, list[str | float]]:
        """The predictions of the rows that came with a label, and those labels, in row
        order (both empty without labels)."""
        labels = self.labels
        if not labels:
            return np.asarray(self.predictions)[:0], []
        given = np.fromiter((x is not None for x in labels), dtype=bool, count=len(labels))
        if not given.any():
            return np.asarray(self.predictions)[:0], []
        return np.asarray(self.predictions)[given], [x for x in labels if x is not None]


@dataclass(frozen=True, slots=True)
class StoredColumns:
    """The rows of one stored batch as columns (``PredictionStore.window_batches``): feature
    columns as lists (NaN for missing numbers), predictions, and class probabilities (rows x
    classes) or ``None``. Every row shares ``timestamp``."""

    timestamp: float
    features: Mapping[str, list[Any]]
    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    coerced: Mapping[str, list[int]] = field(default_factory=dict)
    """Per feature, the rows whose value came as another type (``wrong_type`` again)."""


class LabelItem(NamedTuple):
    """A ground-truth label for the prediction ``id``, observed at ``timestamp``."""

    id: str
    label: str | float
    timestamp: float


class LabelOutcome(NamedTuple):
    """What became of one label.

    ``matched``: stored and joined to its prediction (the prediction fields are set);
    ``unknown_id``: no stored prediction has that id; ``duplicate``: the prediction already
    had a label (or the same id came twice in one write) and the first one is kept.
    ``delay_seconds`` is the write time minus the prediction's timestamp.
    """

    id: str
    outcome: LabelOutcomeKind
    label: str | float
    prediction: str | float | None = None
    model: str | None = None
    model_version: str | None = None
    prediction_timestamp: float | None = None
    delay_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class StoredLabel:
    """A stored label joined to its prediction (for rebuilding the label window)."""

    id: str
    label: str | float
    timestamp: float
    """When the label was observed (``LabelItem.timestamp``)."""
    received_at: float
    """When it was written (the ``now`` of ``PredictionStore.write``)."""
    prediction: str | float
    prediction_timestamp: float
    model: str
    model_version: str
    delay_seconds: float


@dataclass(frozen=True, slots=True)
class StoredPrediction:
    """A stored prediction and its label, if one arrived (``PredictionStore.get``)."""

    id: str
    timestamp: float
    model: str
    model_version: str
    features: Mapping[str, Any]
    prediction: str | float
    confidence: float | None
    probabilities: Sequence[float] | None
    label: str | float | None = None
    label_timestamp: float | None = None
    delay_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class StoreStats:
    predictions: int
    labels: int
    oldest: float | None
    """Timestamp of the oldest stored prediction."""
    newest: float | None
    size_bytes: int
    """Database file plus its write-ahead log."""


__all__ = [
    "OUTCOMES",
    "LabelItem",
    "LabelOutcome",
    "LabelOutcomeKind",
    "LabelledRowsStored",
    "PredictionBatch",
    "PredictionRecord",
    "StoreStats",
    "StoredColumns",
    "StoredLabel",
    "StoredPrediction",
]
