"""``PredictionStore``: predictions and their ground-truth labels in one SQLite file.

The server's single writer thread calls ``write`` with everything queued since the last call
(group commit): one transaction, ``executemany`` inserts, no per-row commits. Other threads
may read (``get``, ``stats``, ``recent_*``) or ``purge``; a lock serialises use of the one
connection, so calls are safe from any thread but never run at the same time.

Durability: the journal is a write-ahead log (WAL). With ``synchronous="NORMAL"`` (the
default) a committed ``write`` survives the process being killed (``kill -9``, a crash): the
commit is in the log before ``write`` returns. Surviving power loss or an OS crash needs
``synchronous="FULL"`` (an fsync per commit, slower).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np

from inferwatch.store.records import (
    LabelItem,
    LabelOutcome,
    PredictionRecord,
    StoredLabel,
    StoredPrediction,
    StoreStats,
)

SCHEMA_VERSION = 1
Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

# ``prediction`` and ``label`` have no declared type, so SQLite keeps str or float as given.
_DDL = """
CREATE TABLE IF NOT EXISTS predictions (
    id TEXT NOT NULL,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    model_version TEXT NOT NULL,
    features TEXT NOT NULL,
    prediction NOT NULL,
    confidence REAL,
    probabilities TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS predictions_id ON predictions (id);
CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts);
CREATE TABLE IF NOT EXISTS labels (
    id TEXT PRIMARY KEY,
    label NOT NULL,
    ts REAL NOT NULL,
    received REAL NOT NULL,
    delay REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS labels_received ON labels (received);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
"""

_INSERT_PREDICTION = (
    "INSERT OR IGNORE INTO predictions"
    " (id, ts, model, model_version, features, prediction, confidence, probabilities)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_LABEL = "INSERT INTO labels (id, label, ts, received, delay) VALUES (?, ?, ?, ?, ?)"
_CHUNK = 500  # ids per IN (...) lookup, well under SQLite's variable limit


class StoreError(RuntimeError):
    """The database file cannot be used (another program's file, a newer schema)."""


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_dumps = json.JSONEncoder(separators=(",", ":"), default=_json_default).encode
_loads = json.loads


def _prediction_row(r: PredictionRecord) -> tuple[Any, ...]:
    probs = r.probabilities
    prediction = r.prediction
    if isinstance(prediction, np.generic):
        prediction = prediction.item()
    return (
        r.id,
        r.timestamp,
        r.model,
        r.model_version,
        _dumps(r.features),
        prediction,
        None if r.confidence is None else float(r.confidence),
        None if probs is None else _dumps(probs),
    )


class PredictionStore:
    """The SQLite prediction store at ``path`` (created with its parent directory)."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Synchronous = "NORMAL",
        busy_timeout_seconds: float = 5.0,
    ) -> None:
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self.path,
            isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE ... COMMIT
            check_same_thread=False,
            timeout=busy_timeout_seconds,
        )
        try:
            self._setup(synchronous)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(f"{self.path}: not a usable prediction store ({exc})") from exc

    def _setup(self, synchronous: Synchronous) -> None:
        c = self._conn
        mode = c.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: cannot switch to WAL journaling (got {mode})")
        c.execute(f"PRAGMA synchronous={synchronous}")
        c.execute("PRAGMA temp_store=MEMORY")
        version = c.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise StoreError(
                f"{self.path}: store schema {version}, this version reads {SCHEMA_VERSION}"
            )
        c.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(_DDL):
                c.execute(statement)
            c.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> PredictionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def write(
        self,
        predictions: Sequence[PredictionRecord],
        labels: Sequence[LabelItem],
        now: float,
    ) -> list[LabelOutcome]:
        """Store ``predictions``, then join ``labels`` to stored predictions, all in one
        transaction; returns one outcome per label, in order.

        A prediction whose id is already stored is ignored (ids are unique). Labels can refer
        to predictions of the same call.
        """
        with self._transaction() as c:
            if predictions:
                c.executemany(_INSERT_PREDICTION, map(_prediction_row, predictions))
            if not labels:
                return []
            return self._join_labels(c, labels, now)

    def _join_labels(
        self, c: sqlite3.Connection, labels: Sequence[LabelItem], now: float
    ) -> list[LabelOutcome]:
        ids = list(dict.fromkeys(item.id for item in labels))
        found: dict[str, tuple[float, str, str, Any, bool]] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = c.execute(
                "SELECT p.id, p.ts, p.model, p.model_version, p.prediction, l.id IS NOT NULL"
                " FROM predictions AS p LEFT JOIN labels AS l ON l.id = p.id"
                f" WHERE p.id IN ({marks})",
                chunk,
            ).fetchall()
            for pid, ts, model, version, prediction, labelled in rows:
                found[pid] = (ts, model, version, prediction, bool(labelled))

        outcomes: list[LabelOutcome] = []
        inserts: list[tuple[Any, ...]] = []
        taken: set[str] = set()
        for item in labels:
            hit = found.get(item.id)
            if hit is None:
                outcomes.append(LabelOutcome(item.id, "unknown_id", item.label))
                continue
            ts, model, version, prediction, labelled = hit
            delay = now - ts
            kind: Literal["matched", "duplicate"] = (
                "duplicate" if labelled or item.id in taken else "matched"
            )
            if kind == "matched":
                taken.add(item.id)
                label = item.label.item() if isinstance(item.label, np.generic) else item.label
                inserts.append((item.id, label, item.timestamp, now, delay))
            outcomes.append(
                LabelOutcome(item.id, kind, item.label, prediction, model, version, ts, delay)
            )
        if inserts:
            c.executemany(_INSERT_LABEL, inserts)
        return outcomes

    def purge(self, older_than: float, *, chunk: int = 5000) -> int:
        """Delete predictions older than ``older_than`` and their labels; returns how many
        predictions went. Works in transactions of ``chunk`` rows so the writer thread never
        waits long behind a large purge."""
        removed = 0
        while True:
            with self._transaction() as c:
                rows = c.execute(
                    "SELECT rowid, id FROM predictions WHERE ts < ? ORDER BY ts LIMIT ?",
                    (older_than, chunk),
                ).fetchall()
                c.executemany("DELETE FROM labels WHERE id = ?", [(pid,) for _, pid in rows])
                c.executemany("DELETE FROM predictions WHERE rowid = ?", [(r,) for r, _ in rows])
            removed += len(rows)
            if len(rows) < chunk:
                return removed

    def writable(self) -> bool:
        """Whether a write transaction commits now (for readiness checks)."""
        try:
            with self._transaction() as c:
                c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', 1)")
        except sqlite3.Error:
            return False
        return True

    # ------------------------------------------------------------------ reading

    def recent_predictions(
        self,
        since: float,
        *,
        model: str | None = None,
        model_version: str | None = None,
        limit: int | None = None,
    ) -> list[PredictionRecord]:
        """Predictions with ``timestamp >= since``, oldest first (optionally of one model or
        version; ``limit`` keeps the newest ``limit``, still oldest first)."""
        where = ["ts >= ?"]
        args: list[Any] = [since]
        if model is not None:
            where.append("model = ?")
            args.append(model)
        if model_version is not None:
            where.append("model_version = ?")
            args.append(model_version)
        sql = (
            "SELECT id, ts, model, model_version, features, prediction, confidence, probabilities"
            f" FROM predictions WHERE {' AND '.join(where)}"
        )
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY ts DESC, rowid DESC LIMIT ?) ORDER BY ts"
            args.append(int(limit))
        else:
            sql += " ORDER BY ts, rowid"
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [
            PredictionRecord(
                pid, ts, m, v, _loads(f), pred, conf, None if probs is None else _loads(probs)
            )
            for pid, ts, m, v, f, pred, conf, probs in rows
        ]

    def recent_labels(self, since: float, *, model: str | None = None) -> list[StoredLabel]:
        """Labels written at or after ``since`` joined to their predictions, in write order."""
        sql = (
            "SELECT l.id, l.label, l.ts, l.received, p.prediction, p.ts, p.model,"
            " p.model_version, l.delay FROM labels AS l JOIN predictions AS p ON p.id = l.id"
            " WHERE l.received >= ?"
        )
        args: list[Any] = [since]
        if model is not None:
            sql += " AND p.model = ?"
            args.append(model)
        sql += " ORDER BY l.received, p.ts"
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [StoredLabel(*row) for row in rows]

    def labelled_features(
        self, since: float, *, model: str | None = None, limit: int = 100_000
    ) -> list[tuple[dict[str, Any], str | float]]:
        """``(features, label)`` of the newest labelled predictions made at or after ``since``
        (at most ``limit``, oldest first): the training rows for retraining."""
        sql = (
            "SELECT p.features AS features, l.label AS label, p.ts AS ts"
            " FROM predictions AS p JOIN labels AS l ON l.id = p.id WHERE p.ts >= ?"
        )
        args: list[Any] = [since]
        if model is not None:
            sql += " AND p.model = ?"
            args.append(model)
        sql = f"SELECT features, label FROM ({sql} ORDER BY p.ts DESC LIMIT ?) ORDER BY ts"
        args.append(int(limit))
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [(_loads(features), label) for features, label in rows]

    def get(self, prediction_id: str) -> StoredPrediction | None:
        """One prediction by id, with its label if it has one."""
        with self._lock:
            row = self._conn.execute(
                "SELECT p.id, p.ts, p.model, p.model_version, p.features, p.prediction,"
                " p.confidence, p.probabilities, l.label, l.ts, l.delay"
                " FROM predictions AS p LEFT JOIN labels AS l ON l.id = p.id WHERE p.id = ?",
                (prediction_id,),
            ).fetchone()
        if row is None:
            return None
        pid, ts, m, v, f, pred, conf, probs, label, label_ts, delay = row
        return StoredPrediction(
            pid,
            ts,
            m,
            v,
            _loads(f),
            pred,
            conf,
            None if probs is None else _loads(probs),
            label,
            label_ts,
            delay,
        )

    def stats(self) -> StoreStats:
        """Row counts, the time span of the stored predictions and the size on disk."""
        with self._lock:
            c = self._conn
            predictions = c.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
            labels = c.execute("SELECT COUNT(*) FROM labels").fetchone()[0]
            oldest, newest = c.execute("SELECT MIN(ts), MAX(ts) FROM predictions").fetchone()
        size = sum(
            p.stat().st_size
            for p in (self.path, self.path.with_name(self.path.name + "-wal"))
            if p.exists()
        )
        return StoreStats(int(predictions), int(labels), oldest, newest, size)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


__all__ = ["PredictionStore", "StoreError", "Synchronous"]
