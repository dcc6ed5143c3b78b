"""The prediction store: every prediction and ground-truth label, durable before 2xx.

``PredictionStore`` is the interface; ``SQLiteStore`` (embedded, the default) and
``PostgresStore`` (``inferwatch.store.postgres``, shared by replicas) implement it;
``open_store`` opens the one a store URL names.
"""

from __future__ import annotations

from inferwatch.store.ids import new_id, new_ids
from inferwatch.store.protocol import PredictionStore, StoreError, StoreUnavailable
from inferwatch.store.records import (
    OUTCOMES,
    LabelItem,
    LabelledRowsStored,
    LabelOutcome,
    LabelOutcomeKind,
    PredictionBatch,
    PredictionRecord,
    StoredColumns,
    StoredLabel,
    StoredPrediction,
    StoreStats,
)
from inferwatch.store.sqlite import SQLiteStore, Synchronous
from inferwatch.store.url import open_store, redact

__all__ = [
    "OUTCOMES",
    "LabelItem",
    "LabelOutcome",
    "LabelOutcomeKind",
    "LabelledRowsStored",
    "PredictionBatch",
    "PredictionRecord",
    "PredictionStore",
    "SQLiteStore",
    "StoreError",
    "StoreStats",
    "StoreUnavailable",
    "StoredColumns",
    "StoredLabel",
    "StoredPrediction",
    "Synchronous",
    "new_id",
    "new_ids",
    "open_store",
    "redact",
]
