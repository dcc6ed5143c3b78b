"""Translation between request batches and the store's rows (both directions), and the
replay of the stored window into a fresh monitor."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from inferwatch.core.schema import Batch, FeatureSchema, SchemaError
from inferwatch.server import checkpoint
from inferwatch.store import (
    PredictionStore,
    StoredColumns,
    StoredLabel,
)

if TYPE_CHECKING:
    from inferwatch.server.served import ServedModel
    from inferwatch.settings import Settings

log = logging.getLogger(__name__)


def outcome_array(values: Sequence[Any] | np.ndarray, task: str) -> np.ndarray:
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


def _column_groups(
    stored: Iterator[StoredColumns], bucket_seconds: float
) -> Iterator[list[StoredColumns]]:
    """Runs of stored batches in the same window bucket with the same columns."""
    run: list[StoredColumns] = []
    key: tuple[Any, ...] | None = None
    for part in stored:
        k = (
            part.timestamp // bucket_seconds,
            tuple(part.features),
            None if part.probabilities is None else len(part.probabilities[0]),
        )
        if run and k != key:
            yield run
            run = []
        key = k
        run.append(part)
    if run:
        yield run


def rebuild_columns(
    schema: FeatureSchema, stored: Iterator[StoredColumns], task: str, bucket_seconds: float
) -> Iterator[tuple[float, Mapping[str, np.ndarray], np.ndarray, np.ndarray | None]]:
    """Stored batches (``PredictionStore.window_batches``) as ``(timestamp, batch,
    predictions, probabilities)``, one per window bucket: a few numpy conversions per bucket,
    not a record per prediction."""
    for run in _column_groups(stored, bucket_seconds):
        names = list(run[0].features)
        columns = {n: [v for part in run for v in part.features[n]] for n in names}
        try:
            frame = schema.columns_from_frame({n: _array(v) for n, v in columns.items()})
        except SchemaError:  # rows stored under another schema: they cannot be replayed
            continue
        batch: Mapping[str, np.ndarray] = frame
        masks = _coerced_masks(run, frame)
        if masks:  # values that came as another type count as wrong_type again
            batch = Batch(frame, masks)
        predictions = outcome_array([p for part in run for p in part.predictions], task)
        probabilities = None
        if run[0].probabilities is not None:
            probs = [row for part in run for row in part.probabilities or ()]
            probabilities = np.asarray(probs, dtype=np.float64)
        yield run[-1].timestamp, batch, predictions, probabilities


def _coerced_masks(
    run: list[StoredColumns], batch: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    total = sum(len(part.predictions) for part in run)
    masks: dict[str, np.ndarray] = {}
    start = 0
    for part in run:
        for name, rows in part.coerced.items():
            if name in batch:
                mask = masks.setdefault(name, np.zeros(total, dtype=bool))
                mask[start + np.asarray(rows, dtype=np.intp)] = True
        start += len(part.predictions)
    return masks


def _array(values: list[Any]) -> np.ndarray:
    """A stored column as numpy: numbers as numbers, anything else as Python objects."""
    arr = np.asarray(values)
    return arr.astype(object) if arr.dtype.kind in "USO" else arr


def rebuild_monitor(
    served: ServedModel,
    store: PredictionStore,
    settings: Settings,
    now: float,
    upto: int | None = None,
) -> tuple[int, int]:
    """Rebuild ``served``'s monitor from the store, so a restart does not blind drift and
    accuracy; returns ``(predictions, labels)`` the window was rebuilt with. ``upto``
    (``store.last_batch()`` taken before the service began writing) and ``now`` bound the
    replay to what was stored before the start, so it can run while new predictions and labels
    come in.

    With a usable window snapshot (``inferwatch.server.checkpoint``) its counts are merged and
    only what was stored after its mark is replayed; without one, the last window span of
    predictions and labels is."""
    since = now - settings.window_buckets * settings.bucket_seconds
    saved = checkpoint.load(store, served.monitor) if upto is not None else None
    if saved is not None and (saved.mark > (upto or 0) or saved.received > now):
        log.warning("window snapshot newer than the store: rebuilding from the store")
        saved = None
    after, label_after, rows, labels = 0, -math.inf, 0, 0
    if saved is not None:
        try:
            served.monitor.merge_state(saved.state)
        except (KeyError, ValueError) as exc:  # checked before anything is merged
            log.warning("window snapshot not used (%s): rebuilding from the store", exc)
        else:
            after, label_after = saved.mark, saved.received
            rows, labels = checkpoint.live_counts(saved, served.monitor, now)
    rows += _replay_predictions(served, store, since, upto, after)
    labels += _replay_labels(served, store, since, now, label_after)
    if rows or labels:
        how = "a snapshot and the tail" if saved is not None else "the store"
        log.info("rebuilt the window from %s: %s predictions, %s labels", how, rows, labels)
    return rows, labels


def _replay_predictions(
    served: ServedModel, store: PredictionStore, since: float, upto: int | None, after: int
) -> int:
    info, bucket, task = served.info, served.monitor.config.bucket_seconds, served.task
    stored = store.window_batches(
        since, model=info.model, model_version=info.model_version, upto=upto, after=after
    )
    rows = 0
    for timestamp, batch, predictions, probabilities in rebuild_columns(
        served.schema, stored, task, bucket
    ):
        served.monitor.observe(batch, predictions, probabilities, timestamp)
        rows += len(predictions)
    return rows


def _replay_labels(
    served: ServedModel, store: PredictionStore, since: float, now: float, after: float
) -> int:
    info, task = served.info, served.task
    stored_labels = [
        x
        for x in store.recent_labels(max(since, after), model=info.model)
        if x.model_version == info.model_version and after < x.received_at < now
    ]
    labels = 0
    bucket = served.monitor.config.bucket_seconds
    for timestamp, predicted, actual, delays in rebuild_labels(stored_labels, task, bucket):
        served.monitor.record_outcomes(predicted, actual, timestamp, delays=delays)
        labels += len(predicted)
    return labels


__all__ = [
    "outcome_array",
    "rebuild_columns",
    "rebuild_labels",
    "rebuild_monitor",
]
