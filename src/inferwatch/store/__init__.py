"""The prediction store: every prediction and ground-truth label, durable before 2xx."""

from __future__ import annotations

from inferwatch.store.ids import new_id, new_ids
from inferwatch.store.records import (
    OUTCOMES,
    LabelItem,
    LabelOutcome,
    LabelOutcomeKind,
    PredictionBatch,
    PredictionRecord,
    StoredColumns,
    StoredLabel,
    StoredPrediction,
    StoreStats,
)
from inferwatch.store.sqlite import PredictionStore, StoreError, Synchronous

__all__ = [
    "OUTCOMES",
    "LabelItem",
    "LabelOutcome",
    "LabelOutcomeKind",
    "PredictionBatch",
    "PredictionRecord",
    "PredictionStore",
    "StoreError",
    "StoreStats",
    "StoredColumns",
    "StoredLabel",
    "StoredPrediction",
    "Synchronous",
    "new_id",
    "new_ids",
]
