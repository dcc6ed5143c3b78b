"""``PredictionStore``: what the service needs from a prediction store, whatever the engine.

Two engines implement it: ``SQLiteStore`` (one file, the embedded default) and
``PostgresStore`` (one database shared by every replica and worker). ``open_store`` picks
one from a store URL.

The contract both keep: ``write`` stores predictions and joins labels in one transaction
and returns only once that transaction is committed (the server acknowledges nothing
before), a prediction id is stored once, a label is joined once (later ones are
``duplicate``), and a label finds a prediction whichever process wrote it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from inferwatch.store.records import (
    LabelItem,
    LabelOutcome,
    PredictionBatch,
    PredictionRecord,
    StoredColumns,
    StoredLabel,
    StoredPrediction,
    StoreStats,
)


class StoreError(RuntimeError):
    """The store cannot be used (another program's file or database, a newer schema)."""


class StoreUnavailable(StoreError):
    """The database cannot be reached right now (down, restarting, out of connections).
    The operation changed nothing; retrying later may succeed."""


@runtime_checkable
class PredictionStore(Protocol):
    """Predictions and their ground-truth labels, durable once ``write`` returns."""

    def write(
        self,
        predictions: Sequence[PredictionRecord | PredictionBatch],
        labels: Sequence[LabelItem],
        now: float,
    ) -> list[LabelOutcome]:
        """Store ``predictions``, then join ``labels``, in one committed transaction; one
        outcome per label, in order."""
        ...

    def purge(self, older_than: float, *, chunk: int = 5000) -> int:
        """Delete predictions older than ``older_than`` and their labels; how many went."""
        ...

    def writable(self) -> bool:
        """Whether a write transaction commits now (readiness)."""
        ...

    def last_batch(self) -> int:
        """A mark of everything stored so far (the newest batch id; 0 when empty)."""
        ...

    last_written: int
    """The newest batch id this object's ``write`` committed (0 before any): the writer
    thread's mark, which a window snapshot is tied to."""

    def window_batches(
        self,
        since: float,
        *,
        model: str,
        model_version: str,
        upto: int | None = None,
        after: int = 0,
    ) -> Iterator[StoredColumns]:
        """One model version's predictions made at or after ``since`` and stored in a batch
        numbered above ``after`` and at most the mark ``upto``, a stored batch at a time as
        columns, oldest first (the restart's window rebuild, or the tail after a window
        snapshot; must not hold up writers while it reads)."""
        ...

    def tally(self, batches: tuple[int, int], received: tuple[float, float]) -> tuple[int, int]:
        """``(predictions, labels)``: predictions in the batches numbered ``(first, last]``
        and labels received in ``(first, last]``, of every model."""
        ...

    def load_snapshot(self, key: str) -> bytes | None:
        """The window snapshot saved under ``key``, or None."""
        ...

    def save_snapshot(self, key: str, body: bytes) -> None:
        """Keep ``body`` under ``key``, replacing the one before, in one durable commit."""
        ...

    def recent_predictions(
        self,
        since: float,
        *,
        model: str | None = None,
        model_version: str | None = None,
        limit: int | None = None,
    ) -> list[PredictionRecord]:
        """Predictions with ``timestamp >= since``, oldest first."""
        ...

    def recent_labels(self, since: float, *, model: str | None = None) -> list[StoredLabel]:
        """Labels written at or after ``since`` joined to their predictions, in write order."""
        ...

    def labelled_features(
        self, since: float, *, model: str | None = None, limit: int = 100_000
    ) -> list[tuple[dict[str, Any], str | float]]:
        """``(features, label)`` of the newest labelled predictions since ``since``."""
        ...

    def get(self, prediction_id: str) -> StoredPrediction | None:
        """One prediction by id, with its label if it has one."""
        ...

    def existing_ids(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` that a stored prediction already has (client-supplied ids)."""
        ...

    def stats(self) -> StoreStats:
        """Row counts, time span and size."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> PredictionStore: ...

    def __exit__(self, *exc: object) -> None: ...


__all__ = ["PredictionStore", "StoreError", "StoreUnavailable"]
