"""Files of ``SQLiteStore``: creating the file privately, naming why it cannot be opened,
the size of a file that may be gone, and the regrouping of a schema-1 file."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from pathlib import Path

from inferwatch.store.codec import groups
from inferwatch.store.protocol import StoreError
from inferwatch.store.records import PredictionRecord
from inferwatch.store.sqlite_writer import insert_batch


def open_error(path: Path, exc: BaseException) -> StoreError:
    """What keeps the store at ``path`` from opening, said in one line."""
    text = str(exc).lower()
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "full" in text:
        why = "the disk is full"
    elif isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = f"no permission to write there ({exc.strerror})"
    elif "readonly" in text or "read-only" in text:
        why = "the file or its directory is read-only"
    elif isinstance(exc, OSError) or "unable to open" in text or "i/o error" in text:
        why = f"cannot create or write the file ({exc})"
    else:
        return StoreError(f"{path}: not a usable prediction store ({exc})")
    return StoreError(f"{path}: cannot open the prediction store: {why}")


def create_private(path: Path) -> None:
    """Create ``path`` (and its directory) readable by its owner only, unless it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def migrate_v1(c: sqlite3.Connection) -> None:
    """Schema 1 kept one JSON record per prediction: regroup them into batches (rows of
    one request share their timestamp) in the transaction that opens the file."""
    cur = c.execute(
        "SELECT id, ts, model, model_version, features, prediction, confidence,"
        " probabilities FROM predictions_v1 ORDER BY rowid"
    )
    while rows := cur.fetchmany(5000):
        records = [
            PredictionRecord(
                pid, ts, m, v, json.loads(f), pred, conf, None if p is None else json.loads(p)
            )
            for pid, ts, m, v, f, pred, conf, p in rows
        ]
        for batch, confidence in groups(records):
            insert_batch(c, batch, confidence)
    c.execute("DROP TABLE predictions_v1")


__all__ = ["create_private", "migrate_v1", "open_error", "size_of"]
