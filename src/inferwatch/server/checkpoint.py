"""Window snapshots: the monitor's counts saved in the store, so a restart replays only the tail.

A snapshot is every count of one model version's monitor (window buckets and totals, see
``Monitor.state``) with the mark it stands for: every prediction in a batch numbered up to
``mark`` and every label received up to ``received`` is in it, nothing later. A restart merges
the snapshot and replays from the store only the batches above the mark and the labels after
``received`` (``inferwatch.server.rebuild.rebuild_monitor``), so it reads the tail, not the
window.

That claim holds only if this process's monitor saw every row the store took in that span:
its own writer's, and no other writer's (``serve --workers N``, replicas on one PostgreSQL,
several models on one file). So before each save the chain checks, with one count query, that
the store holds exactly the rows and labels this process committed since the last save
(``PredictionStore.tally``); the first mismatch stops the snapshots for the life of the
process (the last good one stays valid: the replay after its mark reads every writer's rows).
A feed that failed, a rebuild that failed, and a snapshot that does not decode or was taken
under another model version, profile or window shape all mean the same: no snapshot, a full
rebuild.

Snapshots are written by the feed thread (the only writer of the monitor besides the rebuild)
right after a feed, at most every ``every`` seconds, once the rebuild is done, and at a clean
stop. A snapshot may lag: the tail replay covers what it lacks, since every acknowledged
prediction is in the store.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from inferwatch.core.monitor import Monitor
from inferwatch.store import PredictionStore

log = logging.getLogger(__name__)

MAGIC = b"inferwatch-window-1\n"
SNAPSHOT_SECONDS = 5.0
"""Least time between two snapshots under traffic (a kill -9 replays at most this much)."""


@dataclass(frozen=True)
class Saved:
    """A decoded snapshot: the counts and the mark they stand for."""

    mark: int
    received: float
    written: float
    state: dict[str, np.ndarray]


def key_of(monitor: Monitor) -> str:
    return f"{monitor.model}\x1f{monitor.model_version}"


def encode(monitor: Monitor, mark: int, received: float, written: float) -> bytes:
    """The monitor's counts and the mark, as bytes with a checksum."""
    head = {
        "model": monitor.model,
        "version": monitor.model_version,
        "fingerprint": monitor.fingerprint(),
        "mark": mark,
        "received": received,
        "written": written,
    }
    buf = io.BytesIO()
    arrays: dict[str, Any] = dict(monitor.state())
    np.savez_compressed(buf, **arrays)
    head_bytes = orjson.dumps(head)
    body = len(head_bytes).to_bytes(4, "big") + head_bytes + buf.getvalue()
    return MAGIC + zlib.crc32(body).to_bytes(4, "big") + body


def decode(data: bytes, monitor: Monitor) -> Saved:
    """The snapshot in ``data`` if it was taken of ``monitor``'s model version, profile and
    window shape; ``ValueError`` otherwise (damaged, another version, another format)."""
    if not data.startswith(MAGIC):
        raise ValueError("not a window snapshot")
    rest = data[len(MAGIC) :]
    crc, body = int.from_bytes(rest[:4], "big"), rest[4:]
    if len(rest) < 8 or zlib.crc32(body) != crc:
        raise ValueError("the snapshot is damaged (checksum)")
    size = int.from_bytes(body[:4], "big")
    head = orjson.loads(body[4 : 4 + size])
    want = (monitor.model, monitor.model_version, monitor.fingerprint())
    if (head.get("model"), head.get("version"), head.get("fingerprint")) != want:
        raise ValueError("the snapshot is of another model version, profile or window")
    with np.load(io.BytesIO(body[4 + size :]), allow_pickle=False) as arrays:
        state = {name: arrays[name] for name in arrays.files}
    return Saved(int(head["mark"]), float(head["received"]), float(head["written"]), state)


def live_counts(saved: Saved, monitor: Monitor, now: float) -> tuple[int, int]:
    """``(predictions, labels)`` in the saved window buckets still live at ``now``."""
    cfg = monitor.config
    oldest = math.floor(now / cfg.bucket_seconds) - cfg.window_buckets

    def live(name: str) -> np.ndarray:
        return np.asarray(saved.state[f"{name}.data"])[saved.state[f"{name}.ids"] > oldest]

    rows = int(live("drift")[:, -1].sum())  # the last slot counts rows
    labels = int(live("confusion").sum()) + int(live("regression")[:, 0].sum())
    return rows, labels


def load(store: PredictionStore, monitor: Monitor) -> Saved | None:
    """The usable snapshot of ``monitor``'s version in ``store``, or None (logged why)."""
    try:
        data = store.load_snapshot(key_of(monitor))
    except Exception:
        log.warning("cannot read the window snapshot", exc_info=True)
        return None
    if data is None:
        return None
    try:
        return decode(data, monitor)
    except (ValueError, KeyError, OSError, orjson.JSONDecodeError) as exc:
        log.warning("window snapshot not used (%s): rebuilding from the store", exc)
        return None


class SnapshotChain:
    """Saves one monitor's snapshots, each checked against the store (see the module doc).

    ``begin`` (before the writer starts) sets where this process's own rows start; the
    feed calls ``absorbed`` after each feed and ``failed`` when one fails; ``arm`` (after
    the rebuild) names the monitor and allows saving; ``save`` writes one if due.
    """

    def __init__(
        self, store: PredictionStore, clock: Callable[[], float], every: float = SNAPSHOT_SECONDS
    ) -> None:
        self.store = store
        self.clock = clock
        self.every = every
        self.monitor: Monitor | None = None
        self.alone = True
        """False once the store held rows this process did not write: no more snapshots."""
        self.saved = 0
        self._lock = threading.Lock()
        self._mark = 0
        self._received = 0.0
        self._upto = (0, 0.0)  # the mark and label time of the newest feed
        self._rows = self._labels = 0  # committed since the last check
        self._last = -math.inf

    def begin(self, mark: int, received: float) -> None:
        """Everything up to ``mark`` and labels up to ``received`` come from the rebuild."""
        with self._lock:
            self._mark, self._received = mark, received
            self._upto = (mark, received)

    def arm(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def absorbed(self, mark: int, received: float, rows: int, labels: int) -> None:
        """A feed took ``rows`` predictions and ``labels`` labels committed by this process,
        up to the batch ``mark`` and the label time ``received``."""
        with self._lock:
            self._upto = (max(self._upto[0], mark), max(self._upto[1], received))
            self._rows += rows
            self._labels += labels

    def failed(self) -> None:
        self.alone = False

    def save(self, *, force: bool = False) -> bool:
        """Check the span since the last snapshot and write one, if armed and due."""
        monitor = self.monitor
        if (
            monitor is None
            or not self.alone
            or not (force or self.clock() - self._last >= self.every)
        ):
            return False
        with self._lock:
            mark, received = self._upto
            rows, labels = self._rows, self._labels
            span = ((self._mark, mark), (self._received, received))
        try:
            if self.store.tally(*span) != (rows, labels):
                self.alone = False
                log.info("another writer shares the prediction store: window snapshots off")
                return False
            self.store.save_snapshot(key_of(monitor), encode(monitor, mark, received, self.clock()))
        except Exception:
            log.warning("saving the window snapshot failed", exc_info=True)
            return False
        with self._lock:
            self._mark, self._received = mark, received
            self._rows -= rows
            self._labels -= labels
        self._last = self.clock()
        self.saved += 1
        return True


__all__ = [
    "MAGIC",
    "SNAPSHOT_SECONDS",
    "Saved",
    "SnapshotChain",
    "decode",
    "encode",
    "live_counts",
    "load",
]
