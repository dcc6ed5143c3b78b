"""The write path of ``SQLiteStore``: a batch and its prediction rows in a few multi-row
inserts, and labels joined to the predictions they answer."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator, Sequence
from itertools import chain, repeat
from operator import itemgetter
from typing import Any, Literal

import numpy as np
import orjson

from inferwatch.store.codec import encode_features, encode_probabilities, plain
from inferwatch.store.records import (
    LabelItem,
    LabelledRowsStored,
    LabelOutcome,
    PredictionBatch,
)

_INSERT_BATCH = (
    "INSERT INTO batches (ts, model, model_version, rows, ids, features, probabilities,"
    " received, labelled) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_PREDICTIONS = (
    "INSERT OR IGNORE INTO predictions (id, batch, row, prediction, confidence, label) VALUES "
)
_WIDTH = 6  # variables per prediction row
_MAX_VALUES = 256  # rows per multi-row INSERT
_EXACT_UP_TO = 16  # statements of 1..16 rows; above, sizes step by 16 (31 shapes in all)
_INSERT_LABELS = "INSERT INTO labels (id, label, ts, received, delay) VALUES "
_CHUNK = 500  # ids per IN (...) lookup, well under SQLite's variable limit


@functools.cache
def _values_sql(rows: int) -> str:
    return _INSERT_PREDICTIONS + ",".join(["(?,?,?,?,?,?)"] * rows)


@functools.lru_cache(maxsize=64)
def _labels_sql(rows: int) -> str:
    return _INSERT_LABELS + ",".join(["(?,?,?,?,?)"] * rows)


def _shape(rows: int) -> int:
    """Rows of the statement that inserts ``rows`` (at most ``_MAX_VALUES``): ``rows`` itself
    up to ``_EXACT_UP_TO``, else rounded up to a multiple of it, so a few statement shapes
    (each prepared once and cached) cover every size.

    Each statement is one call into SQLite, and each call lets the event loop's thread take
    the interpreter lock; a writer that then needs it back waits, and the hand-over costs the
    loop's thread too. So a transaction's predictions go in one statement per
    ``_MAX_VALUES`` rows, whatever their number, not one per power of two in it.
    """
    if rows <= _EXACT_UP_TO:
        return rows
    return min(_MAX_VALUES, -(-rows // _EXACT_UP_TO) * _EXACT_UP_TO)


def in_chunks(values: Sequence[Any]) -> Iterator[tuple[Sequence[Any], str]]:
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        yield chunk, ",".join("?" * len(chunk))


def insert_batch(
    c: sqlite3.Connection, batch: PredictionBatch, conf: list[Any], now: float | None = None
) -> int:
    """Insert one batch blob and its prediction rows; ids stored before are ignored. Returns
    the batch id (0 when every id was stored before: no batch is kept).

    The labels that came with the rows go in place, received at ``now``: each on its
    prediction's row (in the same insert), their time and number on the batch row."""
    n = len(batch.ids)
    labels = batch.labels
    stored = [None if x is None else _stored(x) for x in labels] if labels is not None else None
    labelled = batch.labelled()
    received = (batch.timestamp if now is None else now) if labelled else None
    cur = c.execute(
        _INSERT_BATCH,
        (
            float(batch.timestamp),
            batch.model,
            batch.model_version,
            n,
            orjson.dumps(list(batch.ids)).decode(),
            encode_features(batch.features, batch.coerced),
            encode_probabilities(batch.probabilities),
            None if received is None else float(received),
            labelled,
        ),
    )
    ref = int(cur.lastrowid or 0)
    preds = np.asarray(batch.predictions).tolist()
    if len(preds) != n or len(conf) != n:
        raise ValueError(f"a batch of {n} ids has {len(preds)} predictions")
    values = list(
        chain.from_iterable(
            zip(batch.ids, repeat(ref), range(n), preds, conf, stored or repeat(None))
        )
    )
    inserted = 0
    w = _WIDTH
    for start in range(0, n, _MAX_VALUES):
        size = min(_MAX_VALUES, n - start)
        chunk = values[w * start : w * (start + size)]
        shape = _shape(size)
        if shape > size:  # the last row again: a repeated id is ignored, and not counted
            chunk += chunk[-w:] * (shape - size)
        inserted += c.execute(_values_sql(shape), chunk).rowcount
    if labels is not None and inserted != n:  # a row stored before has its own prediction
        raise LabelledRowsStored(n - inserted)  # (and maybe a label)
    if inserted == 0:  # every id was stored before: keep no orphan blob (SQLite may give
        c.execute("DELETE FROM batches WHERE id = ?", (ref,))  # its id to the next batch)
        return 0
    return ref


def _stored(label: Any) -> Any:
    return label if type(label) is str else plain(label)


def _insert_labels(
    c: sqlite3.Connection, values: list[tuple[str, Any, float, float, float]]
) -> None:
    """Label rows ``(id, label, ts, received, delay)``, in id order (a label then lands
    beside the one before in the id index), as few statements as the row limit allows."""
    values.sort(key=itemgetter(0))
    for lo in range(0, len(values), _LABEL_ROWS):
        chunk = values[lo : lo + _LABEL_ROWS]
        c.execute(_labels_sql(len(chunk)), list(chain.from_iterable(chunk)))


_FIND_LABELLED = (
    "SELECT p.id, p.batch, p.prediction, l.id IS NOT NULL OR p.label IS NOT NULL"
    " FROM json_each(?) AS j JOIN predictions AS p ON p.id = j.value"
    " LEFT JOIN labels AS l ON l.id = p.id"
)
_FIND_BATCHES = (
    "SELECT id, ts, model, model_version FROM batches WHERE id IN (SELECT value FROM json_each(?))"
)
_LABEL_ROWS = 1000  # labels per INSERT: one statement for a whole feedback request


def join_labels(
    c: sqlite3.Connection, labels: Sequence[LabelItem], now: float
) -> list[LabelOutcome]:
    """Join ``labels`` to stored predictions at ``now``: one outcome per label, in order.

    One statement finds every id (a JSON list, however many), one more the few batches they
    were stored in (their time, model and version: joining the batch row to every label
    cost a quarter of the lookup), and a few multi-row ones insert the matched labels, in
    id order (a label then lands beside the one before in the id index): each call into
    SQLite lets the event loop's thread take the interpreter lock, so their number, not the
    labels', sets how long a commit waits."""
    ids = sorted({item.id for item in labels})
    rows = c.execute(_FIND_LABELLED, (orjson.dumps(ids).decode(),)).fetchall()
    found = dict(zip(map(itemgetter(0), rows), rows, strict=True))
    refs = sorted(set(map(itemgetter(1), rows)))
    batches = (
        {
            row[0]: row[1:]
            for row in c.execute(_FIND_BATCHES, (orjson.dumps(refs).decode(),)).fetchall()
        }
        if refs
        else {}
    )
    outcomes: list[LabelOutcome] = []
    values: list[tuple[str, Any, float, float, float]] = []
    taken: set[str] = set()
    for item in labels:
        pid, label = item.id, item.label
        hit = found.get(pid)
        stored_in = batches.get(hit[1]) if hit is not None else None
        if hit is None or stored_in is None:
            outcomes.append(LabelOutcome(pid, "unknown_id", label))
            continue
        _, _, prediction, labelled = hit
        ts, model, version = stored_in
        delay = now - ts
        if labelled or pid in taken:
            kind: Literal["matched", "duplicate"] = "duplicate"
        else:
            kind = "matched"
            taken.add(pid)
            values.append((pid, _stored(label), item.timestamp, now, delay))
        outcomes.append(LabelOutcome(pid, kind, label, prediction, model, version, ts, delay))
    _insert_labels(c, values)
    return outcomes


__all__ = ["in_chunks", "insert_batch", "join_labels"]
