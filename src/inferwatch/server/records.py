"""Translation between request batches and the store's rows (both directions), and the
replay of the stored window into a fresh monitor."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from inferwatch.core.schema import Batch, FeatureSchema, SchemaError
from inferwatch.store import LabelItem, PredictionRecord, PredictionStore, StoredLabel

if TYPE_CHECKING:
    from inferwatch.server.served import ServedModel
    from inferwatch.settings import Settings

log = logging.getLogger(__name__)


def label_item(pid: str, label: str | float, timestamp: float) -> LabelItem:
    return LabelItem(pid, label, timestamp)


def outcome_array(values: Sequence[Any], task: str) -> np.ndarray:
    """Predictions or labels as the monitor takes them: ``str`` classes or float values."""
    if task == "classification":
        out = np.empty(len(values), dtype=object)
        out[:] = [str(v) for v in values]
        return out
    return np.asarray(values, dtype=np.float64)


def _groups(timestamps: Sequence[float], bucket_seconds: float) -> Iterator[tuple[int, int]]:
    """``(start, end)`` runs of consecutive rows in the same window bucket."""
    start = 0
    n = len(timestamps)
    while start < n:
        key = timestamps[start] // bucket_seconds
        end = start + 1
        while end < n and timestamps[end] // bucket_seconds == key:
            end += 1
        yield start, end
        start = end


def rebuild_batches(
    schema: FeatureSchema,
    rows: Sequence[PredictionRecord],
    task: str,
    bucket_seconds: float,
) -> Iterator[tuple[float, Batch, np.ndarray, np.ndarray | None]]:
    """Stored predictions (oldest first) as ``(timestamp, batch, predictions,
    probabilities)``, one per window bucket."""
    rows = sorted(rows, key=lambda r: r.timestamp)
    stamps = [r.timestamp for r in rows]
    for start, end in _groups(stamps, bucket_seconds):
        part = rows[start:end]
        try:
            batch = schema.columns_from_records([dict(r.features) for r in part])
        except SchemaError:  # rows stored under another schema: they cannot be replayed
            continue
        names = {n for r in part for n in r.coerced if n in batch}
        if names:  # values that came as another type count as wrong_type again
            masks = {n: np.array([n in r.coerced for r in part]) for n in names}
            batch = Batch(dict(batch), masks)
        predictions = outcome_array([r.prediction for r in part], task)
        probs = [r.probabilities for r in part]
        probabilities = None
        if all(p is not None for p in probs):
            widths = {len(p) for p in probs if p is not None}
            if len(widths) == 1:
                probabilities = np.asarray(probs, dtype=np.float64)
        yield stamps[end - 1], batch, predictions, probabilities


def rebuild_labels(
    labels: Sequence[StoredLabel], task: str, bucket_seconds: float
) -> Iterator[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
    """Stored labels as ``(timestamp, predicted, actual, delays)``, one per window bucket."""
    labels = sorted(labels, key=lambda x: x.received_at)
    stamps = [x.received_at for x in labels]
    for start, end in _groups(stamps, bucket_seconds):
        part = labels[start:end]
        yield (
            stamps[end - 1],
            outcome_array([x.prediction for x in part], task),
            outcome_array([x.label for x in part], task),
            np.asarray([x.delay_seconds for x in part], dtype=np.float64),
        )


def rebuild_monitor(
    served: ServedModel, store: PredictionStore, settings: Settings, now: float
) -> tuple[int, int]:
    """Replay the last window span of ``served``'s predictions and labels from the store into
    its monitor, so a restart does not blind drift and accuracy; returns ``(predictions,
    labels)`` replayed."""
    since = now - settings.window_buckets * settings.bucket_seconds
    info, bucket, task = served.info, settings.bucket_seconds, served.task
    stored = store.recent_predictions(since, model=info.model, model_version=info.model_version)
    rows = labels = 0
    for timestamp, batch, predictions, probabilities in rebuild_batches(
        served.schema, stored, task, bucket
    ):
        served.monitor.observe(batch, predictions, probabilities, timestamp)
        rows += len(predictions)
    stored_labels = [
        x
        for x in store.recent_labels(since, model=info.model)
        if x.model_version == info.model_version
    ]
    for timestamp, predicted, actual, delays in rebuild_labels(stored_labels, task, bucket):
        served.monitor.record_outcomes(predicted, actual, timestamp, delays=delays)
        labels += len(predicted)
    if rows or labels:
        log.info("rebuilt the window from the store: %s predictions, %s labels", rows, labels)
    return rows, labels


__all__ = [
    "label_item",
    "outcome_array",
    "rebuild_batches",
    "rebuild_labels",
    "rebuild_monitor",
]
