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
    "StoredLabel",
    "StoredPrediction",
    "Synchronous",
    "new_id",
    "new_ids",
]
