"""``PostgresStore``: the prediction store in a PostgreSQL database shared by every replica.

Same tables and contract as ``SQLiteStore`` (see ``store.base``), so a label finds its
prediction whichever replica or worker served it. The writer thread keeps one connection
of its own and reconnects after a failure: with the database down, a write fails at once
with ``StoreUnavailable`` (the service answers 503) and the next write after it comes back
succeeds. Reads borrow connections from a small pool.

Durability: a ``write`` returns after PostgreSQL committed it (``synchronous_commit`` as the
server sets it; ``on`` by default, which survives a crash of the database server).
"""

from __future__ import annotations

import base64
import itertools
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from inferwatch.store.codec import Blobs, groups
from inferwatch.store.migrations import SCHEMA_VERSION, pending, statements
from inferwatch.store.postgres_writer import insert_batch, join_labels, value
from inferwatch.store.protocol import StoreError, StoreUnavailable
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
from inferwatch.store.url import redact

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x1F_E4_0001  # advisory lock key: one replica migrates at a time
_ROWS = (
    "SELECT p.id, b.ts, b.model, b.model_version, p.batch, p.pos,"
    " p.prediction_text, p.prediction_num, p.confidence"
    " FROM batches AS b CROSS JOIN LATERAL unnest(b.ids) AS j(id)"
    " JOIN predictions AS p ON p.id = j.id AND p.batch = b.id"
)
_TABLES = ("batches", "predictions", "labels", "meta")
_CONNECT_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)


class PostgresStore:
    """The prediction store in the PostgreSQL database at ``url`` (a libpq URL or
    ``key=value`` string). ``password`` overrides libpq's (``PGPASSWORD``, ``.pgpass``)."""

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        pool_size: int = 4,
        connect_timeout: float = 5.0,
    ) -> None:
        self._url = url
        self._kwargs: dict[str, Any] = {"connect_timeout": max(1, round(connect_timeout))}
        if password is not None:
            self._kwargs["password"] = password
        self._lock = threading.Lock()
        self.last_written = 0
        """The newest batch id this store object committed (the writer thread's mark)."""
        self._conn: psycopg.Connection[Any] | None = None
        self._used = 0.0
        try:
            with self._transaction() as c:
                self._migrate(c)
        except BaseException as exc:
            if self._conn is not None:
                self._conn.close()
            if isinstance(exc, StoreUnavailable):
                raise StoreError(f"{self}: cannot open the prediction store ({exc})") from None
            raise
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            kwargs=self._kwargs,
            min_size=1,
            max_size=max(1, pool_size),
            timeout=connect_timeout,
            open=False,
            check=ConnectionPool.check_connection,  # after a database restart
            name="inferwatch-store",
        )
        self._pool.open(wait=False)

    def __repr__(self) -> str:
        return f"PostgresStore({redact(self._url)!r})"

    __str__ = __repr__

    # ------------------------------------------------------------------ plumbing

    def _connect(self) -> psycopg.Connection[Any]:
        """The writer's connection; one idle for a while is checked first (a database
        restart drops it), so the first write after an outage does not fail on it."""
        conn = self._conn
        now = time.monotonic()
        if conn is not None and not (conn.closed or conn.broken) and now - self._used > 1.0:
            try:
                ConnectionPool.check_connection(conn)
            except psycopg.Error:
                conn.close()
        self._used = now
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
            self._conn = None
            conn = self._conn = psycopg.connect(self._url, **self._kwargs)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on the writer's connection; a lost connection is dropped and
        reported as ``StoreUnavailable`` (nothing of the transaction committed)."""
        with self._lock:
            try:
                conn = self._connect()
                with conn.transaction():
                    yield conn
            except _CONNECT_ERRORS as exc:
                if self._conn is not None and (self._conn.broken or self._conn.closed):
                    self._conn.close()
                    self._conn = None
                raise StoreUnavailable(f"prediction store unreachable: {_reason(exc)}") from exc

    @contextmanager
    def _reader(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except _CONNECT_ERRORS as exc:
            raise StoreUnavailable(f"prediction store unreachable: {_reason(exc)}") from exc

    def _migrate(self, c: psycopg.Connection[Any]) -> None:
        c.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        c.execute("CREATE TABLE IF NOT EXISTS inferwatch_schema (version INTEGER NOT NULL)")
        row = c.execute("SELECT max(version) FROM inferwatch_schema").fetchone()
        version = int(row[0]) if row and row[0] is not None else 0
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self}: store schema {version}, this version reads {SCHEMA_VERSION}")
        if version == 0:
            taken = c.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_name = ANY(%s)",
                (list(_TABLES),),
            ).fetchall()
            if taken:
                names = ", ".join(sorted(r[0] for r in taken))
                raise StoreError(f"{self}: tables of another program in the way ({names})")
        for step in pending(version):
            for statement in statements(step.postgres):
                c.execute(statement)
            log.info("prediction store migrated to schema %s: %s", step.version, step.summary)
        if version < SCHEMA_VERSION:
            c.execute("DELETE FROM inferwatch_schema")
            c.execute("INSERT INTO inferwatch_schema (version) VALUES (%s)", (SCHEMA_VERSION,))

    def close(self) -> None:
        self._pool.close()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> PostgresStore:
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
        """Store ``predictions``, then join ``labels`` (to predictions any replica stored),
        in one transaction; one outcome per label, in order."""
        mark = self.last_written
        with self._transaction() as c:
            for batch, confidence in groups(predictions):
                mark = max(mark, insert_batch(c, batch, confidence, now))
            outcomes = join_labels(c, labels, now) if labels else []
        self.last_written = mark
        return outcomes

    def purge(self, older_than: float, *, chunk: int = 5000) -> int:
        """Delete predictions older than ``older_than`` and their labels, in transactions
        of about ``chunk`` rows; returns how many predictions went."""
        removed = 0
        while True:
            with self._transaction() as c:
                found = c.execute(
                    "SELECT id, rows FROM batches WHERE ts < %s ORDER BY ts LIMIT %s",
                    (older_than, chunk),
                ).fetchall()
                take: list[int] = []
                rows = 0
                for ref, n in found:
                    if take and rows + n > chunk:
                        break
                    take.append(ref)
                    rows += n
                ids = "(SELECT unnest(ids) FROM batches WHERE id = ANY(%s))"
                c.execute(f"DELETE FROM labels WHERE id IN {ids}", (take,))
                cur = c.execute(
                    f"DELETE FROM predictions WHERE id IN {ids} AND batch = ANY(%s)",
                    (take, take),
                )
                removed += max(cur.rowcount, 0)
                c.execute("DELETE FROM batches WHERE id = ANY(%s)", (take,))
            if len(take) == len(found) and len(found) < chunk:
                return removed

    def writable(self) -> bool:
        """Whether a write transaction commits now (for readiness checks)."""
        try:
            with self._transaction() as c:
                c.execute(
                    "INSERT INTO meta (key, value) VALUES ('probe', '1')"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                )
        except StoreError:
            return False
        return True

    # ------------------------------------------------------------------ reading

    @staticmethod
    def _blobs(c: psycopg.Connection[Any], refs: Iterable[int]) -> Blobs:
        blobs = Blobs()
        todo = list(dict.fromkeys(refs))
        if todo:
            rows = c.execute(
                "SELECT id, features, probabilities FROM batches WHERE id = ANY(%s)", (todo,)
            ).fetchall()
            for ref, features, probabilities in rows:
                blobs.add(
                    ref, bytes(features), None if probabilities is None else bytes(probabilities)
                )
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
        where = ["b.ts >= %s"]
        args: list[Any] = [since]
        if model is not None:
            where.append("b.model = %s")
            args.append(model)
        if model_version is not None:
            where.append("b.model_version = %s")
            args.append(model_version)
        sql = f"{_ROWS} WHERE {' AND '.join(where)}"
        if limit is not None:
            sql += " ORDER BY b.ts DESC, b.id DESC, p.pos DESC LIMIT %s"
            args.append(int(limit))
        else:
            sql += " ORDER BY b.ts, b.id, p.pos"
        with self._reader() as c:
            rows = c.execute(sql, args).fetchall()
            if limit is not None:
                rows.reverse()
            blobs = self._blobs(c, (r[4] for r in rows))
        out = []
        for pid, ts, m, v, ref, row, ptext, pnum, conf in rows:
            features, probs = blobs.row(ref, row)
            pred = value(ptext, pnum)
            coerced = blobs.coerced(ref, row)
            out.append(PredictionRecord(pid, ts, m, v, features, pred, conf, probs, coerced))
        return out

    def last_batch(self) -> int:
        """The newest batch id (0 when empty): the mark ``window_batches`` reads up to."""
        with self._reader() as c:
            row = c.execute("SELECT COALESCE(MAX(id), 0) FROM batches").fetchone()
        return int(row[0]) if row else 0

    def window_batches(
        self,
        since: float,
        *,
        model: str,
        model_version: str,
        upto: int | None = None,
        after: int = 0,
    ) -> Iterator[StoredColumns]:
        """Each stored batch of one model version since ``since`` (up to the mark ``upto``)
        as columns, oldest first, read on a pooled connection (writers never wait)."""
        sql = (
            f"{_ROWS} WHERE b.ts >= %s AND b.model = %s AND b.model_version = %s"
            " AND b.id <= %s AND b.id > %s ORDER BY b.ts, b.id, p.pos"
        )
        args = [since, model, model_version, upto if upto is not None else 2**62, after]
        with self._reader() as c:
            rows = c.execute(sql, args).fetchall()
            blobs = self._blobs(c, (r[4] for r in rows))
        for _, run in itertools.groupby(rows, key=lambda r: r[4]):
            part = list(run)
            cells = [blobs.row(r[4], r[5]) for r in part]
            columns = {k: [f[k] for f, _ in cells] for k in cells[0][0]}
            probs = None if cells[0][1] is None else [list(p or ()) for _, p in cells]
            predictions = [value(r[6], r[7]) for r in part]
            coerced: dict[str, list[int]] = {}
            for pos, r in enumerate(part):
                for name in blobs.coerced(r[4], r[5]):
                    coerced.setdefault(name, []).append(pos)
            yield StoredColumns(float(part[0][1]), columns, predictions, probs, coerced)

    def tally(self, batches: tuple[int, int], received: tuple[float, float]) -> tuple[int, int]:
        """Predictions in the batches numbered ``(first, last]`` and labels received in
        ``(first, last]`` (every model): what a window snapshot checks it saw alone."""
        with self._reader() as c:
            rows = _scalar(
                c, "SELECT COALESCE(SUM(rows), 0) FROM batches WHERE id > %s AND id <= %s", *batches
            )
            labels = _scalar(
                c,
                "SELECT (SELECT count(*) FROM labels WHERE received > %s AND received <= %s)"
                " + (SELECT COALESCE(SUM(labelled), 0) FROM batches"
                " WHERE received > %s AND received <= %s)",
                *received,
                *received,
            )
        return int(rows or 0), int(labels or 0)

    def load_snapshot(self, key: str) -> bytes | None:
        """The window snapshot saved under ``key``, if any (kept base64 in ``meta``)."""
        with self._reader() as c:
            text = _scalar(c, "SELECT value FROM meta WHERE key = %s", f"snapshot:{key}")
        if not isinstance(text, str):
            return None
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:
            return None

    def save_snapshot(self, key: str, body: bytes) -> None:
        """Keep ``body`` under ``key`` (replacing the one before), committed and durable."""
        with self._transaction() as c:
            c.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s)"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (f"snapshot:{key}", base64.b64encode(body).decode("ascii")),
            )

    def recent_labels(self, since: float, *, model: str | None = None) -> list[StoredLabel]:
        """Labels written at or after ``since`` joined to their predictions, in write order."""
        of_model = "" if model is None else " AND b.model = %(model)s"
        sql = (  # labels that came later, then those that came with their rows
            "SELECT l.id, l.label_text, l.label_num, l.ts, l.received AS received,"
            " p.prediction_text, p.prediction_num, b.ts AS made, b.model, b.model_version,"
            " l.delay, p.pos AS pos FROM labels AS l JOIN predictions AS p ON p.id = l.id"
            f" JOIN batches AS b ON b.id = p.batch WHERE l.received >= %(since)s{of_model}"
            " UNION ALL SELECT p.id, p.label_text, p.label_num, b.ts, b.received,"
            " p.prediction_text, p.prediction_num, b.ts, b.model, b.model_version,"
            " b.received - b.ts, p.pos FROM batches AS b CROSS JOIN LATERAL unnest(b.ids) AS j(id)"
            " JOIN predictions AS p ON p.id = j.id AND p.batch = b.id"
            " WHERE b.received >= %(since)s"
            f" AND (p.label_text IS NOT NULL OR p.label_num IS NOT NULL){of_model}"
            " ORDER BY received, made, pos"
        )
        with self._reader() as c:
            rows = c.execute(sql, {"since": since, "model": model}).fetchall()
        return [
            StoredLabel(pid, value(lt, ln), ts, rec, value(pt, pn), pts, m, v, delay)
            for pid, lt, ln, ts, rec, pt, pn, pts, m, v, delay, _ in rows
        ]

    def labelled_features(
        self, since: float, *, model: str | None = None, limit: int = 100_000
    ) -> list[tuple[dict[str, Any], str | float]]:
        """``(features, label)`` of the newest labelled predictions made at or after ``since``
        (at most ``limit``, oldest first): the training rows for retraining."""
        of_model = "" if model is None else " AND b.model = %(model)s"
        sql = (  # labels that came later, then those that came with their rows
            "SELECT p.batch AS batch, p.pos AS pos, l.label_text, l.label_num, b.ts AS made"
            " FROM labels AS l JOIN predictions AS p ON p.id = l.id"
            f" JOIN batches AS b ON b.id = p.batch WHERE b.ts >= %(since)s{of_model}"
            " UNION ALL SELECT p.batch, p.pos, p.label_text, p.label_num, b.ts"
            " FROM batches AS b CROSS JOIN LATERAL unnest(b.ids) AS j(id)"
            " JOIN predictions AS p ON p.id = j.id AND p.batch = b.id"
            " WHERE b.ts >= %(since)s AND b.labelled > 0"
            f" AND (p.label_text IS NOT NULL OR p.label_num IS NOT NULL){of_model}"
            " ORDER BY made DESC, batch DESC, pos DESC LIMIT %(limit)s"
        )
        with self._reader() as c:
            args = {"since": since, "model": model, "limit": int(limit)}
            rows = c.execute(sql, args).fetchall()
            rows.reverse()
            blobs = self._blobs(c, (r[0] for r in rows))
        return [(blobs.row(ref, row)[0], value(lt, ln)) for ref, row, lt, ln, _ in rows]

    def existing_ids(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` that a stored prediction already has (client-supplied ids)."""
        with self._reader() as c:
            rows = c.execute("SELECT id FROM predictions WHERE id = ANY(%s)", (list(ids),))
            return [r[0] for r in rows.fetchall()]

    def get(self, prediction_id: str) -> StoredPrediction | None:
        """One prediction by id, with its label if it has one."""
        with self._reader() as c:
            row = c.execute(
                "SELECT p.id, b.ts, b.model, b.model_version, p.batch, p.pos, p.prediction_text,"
                " p.prediction_num, p.confidence, COALESCE(l.label_text, p.label_text),"
                " COALESCE(l.label_num, p.label_num), COALESCE(l.ts, CASE WHEN p.label_text IS"
                " NOT NULL OR p.label_num IS NOT NULL THEN b.ts END),"
                " CASE WHEN l.id IS NOT NULL THEN l.delay WHEN p.label_text IS NOT NULL"
                " OR p.label_num IS NOT NULL THEN b.received - b.ts END"
                " FROM predictions AS p JOIN batches AS b ON b.id = p.batch"
                " LEFT JOIN labels AS l ON l.id = p.id WHERE p.id = %s",
                (prediction_id,),
            ).fetchone()
            if row is None:
                return None
            pid, ts, m, v, ref, index, pt, pn, conf, lt, ln, label_ts, delay = row
            features, probs = self._blobs(c, [ref]).row(ref, index)
        label = None if lt is None and ln is None else value(lt, ln)
        return StoredPrediction(
            pid, ts, m, v, features, value(pt, pn), conf, probs, label, label_ts, delay
        )

    def stats(self) -> StoreStats:
        """Row counts, the time span of the stored predictions and the tables' size."""
        with self._reader() as c:
            predictions = _scalar(c, "SELECT count(*) FROM predictions")
            labels = _scalar(
                c,
                "SELECT (SELECT count(*) FROM labels)"
                " + (SELECT COALESCE(SUM(labelled), 0) FROM batches WHERE received IS NOT NULL)",
            )
            span = c.execute("SELECT min(ts), max(ts) FROM batches").fetchone()
            size = _scalar(
                c,
                "SELECT sum(pg_total_relation_size(t::regclass)) FROM unnest(%s::text[]) t",
                list(_TABLES),
            )
        oldest, newest = span if span is not None else (None, None)
        return StoreStats(int(predictions or 0), int(labels or 0), oldest, newest, int(size or 0))


def _scalar(c: psycopg.Connection[Any], sql: str, *args: Any) -> Any:
    row = c.execute(sql, args or None).fetchone()
    return None if row is None else row[0]


def _reason(exc: BaseException) -> str:
    """A short reason for a connection failure, without the connection string."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = ["PostgresStore"]
