"""``SQLiteStore``: predictions and their ground-truth labels in one SQLite file.

The server's single writer thread calls ``write`` with everything queued since the last call
(group commit): one transaction, a few multi-row inserts, no per-row commits. Other threads
may read (``get``, ``stats``, ``recent_*``) or ``purge``; a lock serialises use of the one
connection, so calls are safe from any thread but never run at the same time.

Durability: the journal is a write-ahead log (WAL). With ``synchronous="NORMAL"`` (the
default) a committed ``write`` survives the process being killed (``kill -9``, a crash): the
commit is in the log before ``write`` returns. Surviving power loss or an OS crash needs
``synchronous="FULL"`` (an fsync per commit, slower).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import orjson

from inferwatch.store.codec import (
    Blobs,
    decode_blob,
    groups,
)
from inferwatch.store.migrations import SCHEMA_VERSION, pending, statements
from inferwatch.store.protocol import StoreError
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
from inferwatch.store.sqlite_files import create_private, migrate_v1, open_error, size_of
from inferwatch.store.sqlite_writer import in_chunks, insert_batch, join_labels

log = logging.getLogger(__name__)

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

_BATCH_IDS = "json_each((SELECT ids FROM batches WHERE id = ?1))"
_TRUNCATE_WAIT_MS = 250  # longest a truncating checkpoint holds the writer back
_TRUNCATE_TRIES = 20  # the writer's own truncation, past four times the limit (a last resort)


WAL_LIMIT_BYTES = 32 * 1024 * 1024
"""Past this size the checkpointer truncates the write-ahead log (and SQLite trims it back
to this size whenever it starts over), so sustained load cannot grow it without bound."""


class SQLiteStore:
    """The SQLite prediction store at ``path`` (created with its parent directory)."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Synchronous = "NORMAL",
        busy_timeout_seconds: float = 5.0,
        checkpoint_seconds: float | None = 1.0,
        wal_limit_bytes: int = WAL_LIMIT_BYTES,
    ) -> None:
        """``checkpoint_seconds``: copy the write-ahead log into the database file from a
        thread of its own this often, instead of inside whichever commit fills the log
        (a checkpoint syncs the file, which can take long on a busy disk and would hold up
        every request waiting for that commit); ``None`` leaves it to SQLite.
        ``wal_limit_bytes``: the log is truncated once it is larger (see ``WAL_LIMIT_BYTES``).
        The file is created readable by its owner only (mode 0600)."""
        self.wal_limit_bytes = wal_limit_bytes
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        self._wal = self.path.with_name(self.path.name + "-wal")
        self._busy_ms = int(busy_timeout_seconds * 1000)
        self._lock = threading.Lock()
        self.last_written = 0
        """The newest batch id this store object committed (the writer thread's mark)."""
        try:
            create_private(self.path)  # SQLite gives its -wal and -shm files the same mode
            self._conn = sqlite3.connect(
                self.path,
                isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE ... COMMIT
                check_same_thread=False,
                timeout=busy_timeout_seconds,
            )
        except (OSError, sqlite3.Error) as exc:
            raise open_error(self.path, exc) from None
        try:
            self._setup(synchronous)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise open_error(self.path, exc) from None
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if checkpoint_seconds is not None:
            self._conn.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop,
                args=(checkpoint_seconds, busy_timeout_seconds),
                name="inferwatch-checkpoint",
                daemon=True,
            )
            self._checkpointer.start()

    def _checkpoint_loop(self, every: float, timeout: float) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=timeout)
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            while not self._stop.wait(every):
                # PASSIVE never waits for, nor blocks, the writer or readers; but under
                # steady writes it never catches up with the end of the log, so the log
                # never starts over and grows without bound. Past the limit, a TRUNCATE
                # holds the writer back for a moment, copies the rest and empties it.
                truncate = size_of(wal) > self.wal_limit_bytes
                try:
                    if truncate:  # wait a moment at most, never the whole busy timeout
                        conn.execute(f"PRAGMA busy_timeout={_TRUNCATE_WAIT_MS}")
                    conn.execute(f"PRAGMA wal_checkpoint({'TRUNCATE' if truncate else 'PASSIVE'})")
                except sqlite3.Error:
                    log.warning("checkpoint of %s failed", self.path, exc_info=True)
                finally:
                    if truncate:
                        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        finally:
            conn.close()

    def _setup(self, synchronous: Synchronous) -> None:
        c = self._conn
        mode = c.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: cannot switch to WAL journaling (got {mode})")
        c.execute(f"PRAGMA synchronous={synchronous}")
        c.execute(f"PRAGMA journal_size_limit={self.wal_limit_bytes}")
        c.execute("PRAGMA temp_store=MEMORY")
        c.execute("BEGIN IMMEDIATE")
        try:
            version = c.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: store schema {version}, this version reads {SCHEMA_VERSION}"
                )
            for step in pending(version):
                if step.version == 2 and version == 1:
                    c.execute("ALTER TABLE predictions RENAME TO predictions_v1")
                for statement in statements(step.sqlite):
                    c.execute(statement)
            if version == 1:  # regrouped with today's write path, so once every step is in
                migrate_v1(c)
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
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
            self._checkpointer = None
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def write(
        self,
        predictions: Sequence[PredictionRecord | PredictionBatch],
        labels: Sequence[LabelItem],
        now: float,
    ) -> list[LabelOutcome]:
        """Store ``predictions``, then join ``labels`` to stored predictions, all in one
        transaction; returns one outcome per label, in order.

        ``predictions`` are ``PredictionBatch`` columns (what the server writes; consecutive
        compatible ones share one blob) or ``PredictionRecord`` rows. A prediction whose id
        is already stored is ignored (ids are unique). Labels can refer to predictions of
        the same call.
        """
        mark = self.last_written
        with self._transaction() as c:
            for batch, confidence in groups(predictions):
                mark = max(mark, insert_batch(c, batch, confidence, now))
            outcomes = join_labels(c, labels, now) if labels else []
        self.last_written = mark
        self._bound_log()
        return outcomes

    def _bound_log(self) -> None:
        """The checkpoint thread keeps the log near its limit; should it fall behind (starved
        on a busy machine), the writer truncates the log itself once it passes four times the
        limit, so the bound holds whatever the scheduling (one ``stat`` per write)."""
        if self._checkpointer is None or size_of(self._wal) <= 4 * self.wal_limit_bytes:
            return
        with self._lock:  # no write meanwhile: the log only has to be copied once
            c = self._conn
            c.execute(f"PRAGMA busy_timeout={_TRUNCATE_WAIT_MS}")
            try:
                # a reader or the checkpoint thread's own checkpoint may hold it up: try again
                for _ in range(_TRUNCATE_TRIES):
                    if not c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
                        break
                    time.sleep(0.01)
            except sqlite3.Error:
                log.warning("checkpoint of %s failed", self.path, exc_info=True)
            finally:
                c.execute(f"PRAGMA busy_timeout={self._busy_ms}")

    def purge(self, older_than: float, *, chunk: int = 5000) -> int:
        """Delete predictions older than ``older_than`` and their labels; returns how many
        predictions went. Works in transactions of about ``chunk`` rows so the writer never
        waits long behind a large purge."""
        removed = 0
        while True:
            with self._transaction() as c:
                found = c.execute(
                    "SELECT id, rows FROM batches WHERE ts < ? ORDER BY ts LIMIT ?",
                    (older_than, chunk),
                ).fetchall()
                take: list[tuple[int]] = []
                rows = 0
                for ref, n in found:
                    if take and rows + n > chunk:
                        break
                    take.append((ref,))
                    rows += n
                c.executemany(
                    f"DELETE FROM labels WHERE id IN (SELECT value FROM {_BATCH_IDS})", take
                )
                removed += c.executemany(
                    f"DELETE FROM predictions WHERE id IN (SELECT value FROM {_BATCH_IDS})"
                    " AND batch = ?1",
                    take,
                ).rowcount
                c.executemany("DELETE FROM batches WHERE id = ?", take)
            if len(take) == len(found) and len(found) < chunk:
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

    def _blobs(self, refs: Iterable[int], into: Blobs | None = None) -> Blobs:
        """The decoded blobs of the batches ``refs`` (call with the lock held)."""
        blobs = into if into is not None else Blobs()
        todo = [r for r in dict.fromkeys(refs) if r not in blobs]
        for chunk, marks in in_chunks(todo):
            rows = self._conn.execute(
                f"SELECT id, features, probabilities FROM batches WHERE id IN ({marks})", chunk
            ).fetchall()
            for ref, features, probabilities in rows:
                blobs.add(ref, features, probabilities)
        return blobs

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
        where = ["b.ts >= ?"]
        args: list[Any] = [since]
        if model is not None:
            where.append("b.model = ?")
            args.append(model)
        if model_version is not None:
            where.append("b.model_version = ?")
            args.append(model_version)
        sql = (
            "SELECT p.id, b.ts, b.model, b.model_version, p.batch, p.row, p.prediction,"
            " p.confidence FROM batches AS b, json_each(b.ids) AS j"
            " JOIN predictions AS p ON p.id = j.value AND p.batch = b.id"
            f" WHERE {' AND '.join(where)}"
        )
        if limit is not None:
            sql += " ORDER BY b.ts DESC, b.id DESC, p.row DESC LIMIT ?"
            args.append(int(limit))
        else:
            sql += " ORDER BY b.ts, b.id, p.row"
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
            if limit is not None:
                rows.reverse()
            blobs = self._blobs(r[4] for r in rows)
        out = []
        for pid, ts, m, v, ref, row, pred, conf in rows:
            features, probs = blobs.row(ref, row)
            coerced = blobs.coerced(ref, row)
            out.append(PredictionRecord(pid, ts, m, v, features, pred, conf, probs, coerced))
        return out

    def last_batch(self) -> int:
        """A mark of everything stored so far: ``window_batches(upto=mark)`` reads only what
        was stored before it was taken (what a restart replays while new rows come in)."""
        with self._lock:
            row = self._conn.execute("SELECT MAX(id) FROM batches").fetchone()
        return int(row[0] or 0)

    def window_batches(
        self,
        since: float,
        *,
        model: str,
        model_version: str,
        upto: int | None = None,
        after: int = 0,
    ) -> Iterator[StoredColumns]:
        """The predictions of one model version made at or after ``since`` (and stored before
        the mark ``upto``), a stored batch at a time, oldest first, as columns: what rebuilds
        the monitor's window on a restart, without a Python object per prediction.

        Each batch's predictions come from one aggregate over its id list in SQLite; rows
        whose id was already stored by an earlier batch are left out."""
        sql = (
            "SELECT b.ts, b.rows, b.features, b.probabilities, (SELECT json_array("
            "json_group_array(p.row), json_group_array(p.prediction)) FROM json_each(b.ids)"
            " AS j JOIN predictions AS p ON p.id = j.value AND p.batch = b.id) FROM batches AS b"
            " WHERE b.ts >= ? AND b.model = ? AND b.model_version = ? AND b.id <= ?"
            " AND b.id > ? ORDER BY b.ts, b.id"
        )
        args = (since, model, model_version, upto if upto is not None else 2**62, after)
        # a connection of its own: a long read must not hold the writer (WAL readers see the
        # last commit before they started and never block a commit)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("BEGIN")  # one snapshot for every chunk
            cursor = conn.execute(sql, args)
            while chunk := cursor.fetchmany(64):
                yield from self._columns(chunk)
        finally:
            conn.close()

    def tally(self, batches: tuple[int, int], received: tuple[float, float]) -> tuple[int, int]:
        """Predictions in the batches numbered ``(first, last]`` and labels received in
        ``(first, last]`` (every model): what a window snapshot checks it saw alone."""
        with self._lock:
            c = self._conn
            rows = c.execute(
                "SELECT COALESCE(SUM(rows), 0) FROM batches WHERE id > ? AND id <= ?", batches
            ).fetchone()[0]
            labels = c.execute(
                "SELECT (SELECT COUNT(*) FROM labels WHERE received > ?1 AND received <= ?2)"
                " + (SELECT COALESCE(SUM(labelled), 0) FROM batches"
                " WHERE received > ?1 AND received <= ?2)",
                received,
            ).fetchone()[0]
        return int(rows), int(labels)

    def load_snapshot(self, key: str) -> bytes | None:
        """The window snapshot saved under ``key``, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM meta WHERE key = ?", (f"snapshot:{key}",)
            ).fetchone()
        return None if row is None or not isinstance(row[0], bytes) else row[0]

    def save_snapshot(self, key: str, body: bytes) -> None:
        """Keep ``body`` under ``key`` (replacing the one before), committed and durable."""
        with self._transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (f"snapshot:{key}", body)
            )

    @staticmethod
    def _columns(rows: Sequence[Any]) -> Iterator[StoredColumns]:
        for ts, n, features, probabilities, kept in rows:
            index, predictions = orjson.loads(kept)
            if not index:
                continue
            columns, by_row = decode_blob(features)
            probs = None if probabilities is None else orjson.loads(probabilities)
            if len(index) != n:
                columns = {k: [v[i] for i in index] for k, v in columns.items()}
                probs = None if probs is None else [probs[i] for i in index]
            coerced: dict[str, list[int]] = {}
            if by_row:
                for pos, i in enumerate(index):
                    for name in by_row.get(i, ()):
                        coerced.setdefault(name, []).append(pos)
            yield StoredColumns(float(ts), columns, predictions, probs, coerced)

    def recent_labels(self, since: float, *, model: str | None = None) -> list[StoredLabel]:
        """Labels written at or after ``since`` joined to their predictions, in write order."""
        of_model = "" if model is None else " AND b.model = ?2"
        sql = (  # labels that came later, then those that came with their rows
            "SELECT l.id, l.label, l.ts, l.received, p.prediction, b.ts AS made, b.model,"
            " b.model_version, l.delay, p.row FROM labels AS l"
            " JOIN predictions AS p ON p.id = l.id JOIN batches AS b ON b.id = p.batch"
            f" WHERE l.received >= ?1{of_model} UNION ALL"
            " SELECT p.id, p.label, b.ts, b.received, p.prediction, b.ts, b.model,"
            " b.model_version, b.received - b.ts, p.row FROM batches AS b, json_each(b.ids) AS j"
            " JOIN predictions AS p ON p.id = j.value AND p.batch = b.id"
            f" WHERE b.received >= ?1 AND p.label IS NOT NULL{of_model}"
            " ORDER BY 4, made, 10"
        )
        args: list[Any] = [since] if model is None else [since, model]
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [StoredLabel(*row[:9]) for row in rows]

    def labelled_features(
        self, since: float, *, model: str | None = None, limit: int = 100_000
    ) -> list[tuple[dict[str, Any], str | float]]:
        """``(features, label)`` of the newest labelled predictions made at or after ``since``
        (at most ``limit``, oldest first): the training rows for retraining."""
        of_model = "" if model is None else " AND b.model = ?3"
        sql = (  # labels that came later, then those that came with their rows
            "SELECT p.batch, p.row, l.label, b.ts FROM labels AS l"
            " JOIN predictions AS p ON p.id = l.id JOIN batches AS b ON b.id = p.batch"
            f" WHERE b.ts >= ?1{of_model} UNION ALL"
            " SELECT p.batch, p.row, p.label, b.ts FROM batches AS b, json_each(b.ids) AS j"
            " JOIN predictions AS p ON p.id = j.value AND p.batch = b.id"
            f" WHERE b.ts >= ?1 AND b.labelled > 0 AND p.label IS NOT NULL{of_model}"
            " ORDER BY 4 DESC, 1 DESC, 2 DESC LIMIT ?2"
        )
        args: list[Any] = [since, int(limit)] + ([] if model is None else [model])
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
            rows.reverse()
            blobs = self._blobs(r[0] for r in rows)
        return [(blobs.row(ref, row)[0], label) for ref, row, label, _ in rows]

    def existing_ids(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` that a stored prediction already has (client-supplied ids)."""
        found: list[str] = []
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT id FROM predictions WHERE id IN ({marks})"
                found.extend(r[0] for r in self._conn.execute(sql, chunk))
        return found

    def get(self, prediction_id: str) -> StoredPrediction | None:
        """One prediction by id, with its label if it has one."""
        with self._lock:
            row = self._conn.execute(
                "SELECT p.id, b.ts, b.model, b.model_version, p.batch, p.row, p.prediction,"
                " p.confidence, COALESCE(l.label, p.label), CASE WHEN l.id IS NOT NULL THEN l.ts"
                " WHEN p.label IS NOT NULL THEN b.ts END, CASE WHEN l.id IS NOT NULL THEN l.delay"
                " WHEN p.label IS NOT NULL THEN b.received - b.ts END FROM predictions AS p"
                " JOIN batches AS b ON b.id = p.batch LEFT JOIN labels AS l ON l.id = p.id"
                " WHERE p.id = ?",
                (prediction_id,),
            ).fetchone()
            if row is None:
                return None
            pid, ts, m, v, ref, index, pred, conf, label, label_ts, delay = row
            features, probs = self._blobs([ref]).row(ref, index)
        return StoredPrediction(pid, ts, m, v, features, pred, conf, probs, label, label_ts, delay)

    def stats(self) -> StoreStats:
        """Row counts, the time span of the stored predictions and the size on disk."""
        with self._lock:
            c = self._conn
            predictions = c.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
            labels = c.execute(
                "SELECT (SELECT COUNT(*) FROM labels)"
                " + (SELECT COALESCE(SUM(labelled), 0) FROM batches WHERE received IS NOT NULL)"
            ).fetchone()[0]
            oldest, newest = c.execute("SELECT MIN(ts), MAX(ts) FROM batches").fetchone()
        size = sum(
            p.stat().st_size
            for p in (self.path, self.path.with_name(self.path.name + "-wal"))
            if p.exists()
        )
        return StoreStats(int(predictions), int(labels), oldest, newest, size)


__all__ = ["WAL_LIMIT_BYTES", "SQLiteStore", "Synchronous"]
