"""The write path of ``PostgresStore``: a batch and its prediction rows in one statement, and
labels joined to the predictions they answer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import psycopg

from inferwatch.store.codec import encode_features, encode_probabilities, plain
from inferwatch.store.records import (
    LabelItem,
    LabelledRowsStored,
    LabelOutcome,
    PredictionBatch,
)

# The batch row and its prediction rows in one statement (one round trip); the arrays travel
# in binary. A batch whose every id was stored before leaves no orphan row (see _ORPHAN).
_INSERT_BATCH = (
    "WITH b AS (INSERT INTO batches (ts, model, model_version, rows, ids, features,"
    " probabilities, received, labelled) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " RETURNING id)"
    " INSERT INTO predictions (id, batch, pos, prediction_text, prediction_num, confidence)"
    " SELECT u.i, b.id, u.p, u.t, u.n, u.c FROM b, unnest(%s::text[], %s::int[], %s::text[],"
    " %s::float8[], %s::float8[]) AS u(i, p, t, n, c) ON CONFLICT (id) DO NOTHING"
    " RETURNING batch"
)
# The same, with the labels that came with the rows, in place on each row.
_INSERT_LABELLED_BATCH = (
    "WITH b AS (INSERT INTO batches (ts, model, model_version, rows, ids, features,"
    " probabilities, received, labelled) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " RETURNING id)"
    " INSERT INTO predictions (id, batch, pos, prediction_text, prediction_num, confidence,"
    " label_text, label_num) SELECT u.i, b.id, u.p, u.t, u.n, u.c, u.lt, u.ln FROM b,"
    " unnest(%s::text[], %s::int[], %s::text[], %s::float8[], %s::float8[], %s::text[],"
    " %s::float8[]) AS u(i, p, t, n, c, lt, ln) ON CONFLICT (id) DO NOTHING RETURNING batch"
)
_ORPHAN = "DELETE FROM batches WHERE id = currval(pg_get_serial_sequence('batches', 'id'))"
_INSERT_LABELS = (
    "INSERT INTO labels (id, label_text, label_num, ts, received, delay)"
    " SELECT * FROM unnest(%s::text[], %s::text[], %s::float8[], %s::float8[],"
    " %s::float8[], %s::float8[]) ON CONFLICT (id) DO NOTHING RETURNING id"
)


def _split(values: Iterable[Any]) -> tuple[list[str | None], list[float | None]]:
    """A column of class labels (str) or values (float) as a text and a number column."""
    text: list[str | None] = []
    num: list[float | None] = []
    for v in values:
        v = plain(v)
        if isinstance(v, str):
            text.append(v)
            num.append(None)
        else:
            text.append(None)
            num.append(None if v is None else float(v))
    return text, num


def value(text: str | None, num: float | None) -> str | float:
    return text if text is not None else float(num)  # type: ignore[arg-type]  # one is set


def insert_batch(
    c: psycopg.Connection[Any], batch: PredictionBatch, conf: list[Any], now: float | None = None
) -> int:
    """Insert one batch row and its prediction rows in one statement; ids stored before are
    ignored. Returns the batch id (0 when every id was stored before: no batch is kept).

    The labels that came with the rows go in place, received at ``now``: each on its
    prediction's row, their time and number on the batch row."""
    n = len(batch.ids)
    ids = list(batch.ids)
    preds = np.asarray(batch.predictions).tolist()
    if len(preds) != n or len(conf) != n:
        raise ValueError(f"a batch of {n} ids has {len(preds)} predictions")
    text, num = _split(preds)
    rows: tuple[Any, ...] = (ids, list(range(n)), text, num, conf)
    if batch.labels is not None:
        rows += _split(batch.labels)
    labelled = batch.labelled()
    received = (batch.timestamp if now is None else now) if labelled else None
    cur = c.execute(
        _INSERT_BATCH if batch.labels is None else _INSERT_LABELLED_BATCH,
        (
            float(batch.timestamp),
            batch.model,
            batch.model_version,
            n,
            ids,
            encode_features(batch.features, batch.coerced),
            encode_probabilities(batch.probabilities),
            None if received is None else float(received),
            labelled,
            *rows,
        ),
    )
    if batch.labels is not None and cur.rowcount != n:  # a row stored before has its own
        raise LabelledRowsStored(n - cur.rowcount)  # prediction (and maybe a label)
    if cur.rowcount == 0:  # every id was stored before: keep no orphan blob
        c.execute(_ORPHAN)
        return 0
    row = cur.fetchone()
    return int(row[0]) if row else 0


def join_labels(
    c: psycopg.Connection[Any], labels: Sequence[LabelItem], now: float
) -> list[LabelOutcome]:
    """Join ``labels`` to stored predictions at ``now``: one outcome per label, in order."""
    ids = list(dict.fromkeys(item.id for item in labels))
    found: dict[str, tuple[float, str, str, str | float]] = {}
    rows = c.execute(
        "SELECT p.id, b.ts, b.model, b.model_version, p.prediction_text, p.prediction_num,"
        " p.label_text IS NOT NULL OR p.label_num IS NOT NULL"
        " FROM predictions AS p JOIN batches AS b ON b.id = p.batch WHERE p.id = ANY(%s)",
        (ids,),
    ).fetchall()
    in_place: set[str] = set()  # labelled when they were stored
    for pid, ts, model, version, ptext, pnum, labelled in rows:
        found[pid] = (ts, model, version, value(ptext, pnum))
        if labelled:
            in_place.add(pid)
    first: dict[str, LabelItem] = {}
    for item in labels:
        if item.id in found and item.id not in in_place:
            first.setdefault(item.id, item)
    inserted: set[str] = set()
    if first:
        items = list(first.values())
        text, num = _split(i.label for i in items)
        cur = c.execute(
            _INSERT_LABELS,
            (
                [i.id for i in items],
                text,
                num,
                [float(i.timestamp) for i in items],
                [float(now)] * len(items),
                [now - found[i.id][0] for i in items],
            ),
        )
        inserted = {r[0] for r in cur.fetchall()}
    outcomes: list[LabelOutcome] = []
    for item in labels:
        hit = found.get(item.id)
        if hit is None:
            outcomes.append(LabelOutcome(item.id, "unknown_id", item.label))
            continue
        ts, model, version, prediction = hit
        kind: Literal["matched", "duplicate"] = (
            "matched" if first.get(item.id) is item and item.id in inserted else "duplicate"
        )
        outcomes.append(
            LabelOutcome(item.id, kind, item.label, prediction, model, version, ts, now - ts)
        )
    return outcomes


__all__ = ["insert_batch", "join_labels", "value"]
