"""The monitor feed: committed rows and labels, pooled, into the monitor of their version.

The flusher hands over every committed transaction (``put``) into one pool; the feed's
thread takes the pool once ``max_rows`` rows (or labels) are waiting or its first transaction
has waited ``linger`` seconds, then feeds each served model's monitor in one ``observe`` and
one ``record_outcomes`` call. The pool is the only buffer between the store and the monitor,
so its two knobs are the only ones: the monitor's fixed cost per call is paid once per pool
rather than once per request, and a committed row reaches the snapshot at most ``linger``
seconds later. The thread is woken when a pool starts and when it fills, not per
transaction.

Rows go to the monitor of the ``ServedModel`` that scored them, labels to the one the
feedback request read when it made the labelled prediction: a promotion never moves pooled
rows or labels of one version into another's windows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import numpy as np

from inferwatch.core.schema import Batch
from inferwatch.exporter import ServiceTotals
from inferwatch.server.checkpoint import SnapshotChain
from inferwatch.server.flusher import Flushed, PredictionJob
from inferwatch.server.rebuild import outcome_array
from inferwatch.server.served import ServedModel
from inferwatch.store import LabelOutcome

log = logging.getLogger(__name__)

_LABEL = attrgetter("label")
_PREDICTION = attrgetter("prediction")
_VERSION = attrgetter("model_version")
_DELAY = attrgetter("delay_seconds")

_SAVE = "save"  # an order: save a window snapshot now
_STOP = "stop"  # an order: feed what is pooled, save, and end the thread

MAX_ROWS = 1024
"""Rows (or labels) pooled before the monitor is fed without waiting for the linger. The
monitor's cost per row falls with the pool: about 200 us per 100 rows fed 100 at a time,
90 at 256, 50 at 1024 and 45 at 4096 (iris, 4 features), so a pool of 1024 halves what
monitoring takes from the request path under heavy batch traffic; lighter traffic is fed
at the linger, in smaller pools."""


@dataclass
class _Pool:
    jobs: list[PredictionJob] = field(default_factory=list)
    labels: list[tuple[ServedModel, Sequence[LabelOutcome]]] = field(default_factory=list)
    """The outcomes of each label request, with the version its request read."""
    rows: int = 0
    n_labels: int = 0
    with_rows: int = 0
    """Labels that came with the rows (all stored with them: matched)."""
    mark: int = 0
    received: float = 0.0

    def add(self, flushed: Flushed) -> None:
        self.jobs += flushed.predictions
        self.rows += sum(len(j.rows) for j in flushed.predictions)
        self.labels += [(job.served, outs) for job, outs in flushed.outcomes]
        with_rows = sum(j.rows.labelled() for j in flushed.predictions)
        self.with_rows += with_rows
        self.n_labels += sum(len(outs) for _, outs in flushed.outcomes) + with_rows
        self.mark = max(self.mark, flushed.mark)
        self.received = max(self.received, flushed.timestamp)

    @property
    def matched(self) -> int:
        joined = sum(o.outcome == "matched" for _, outs in self.labels for o in outs)
        return joined + self.with_rows

    def full(self, max_rows: int) -> bool:
        return self.rows >= max_rows or self.n_labels >= max_rows

    def __bool__(self) -> bool:
        return bool(self.jobs or self.labels)


class MonitorFeed:
    """Pools committed transactions for the monitors, on its own thread.

    A pool is fed once ``max_rows`` rows or labels wait, or once its first transaction has
    waited ``linger`` seconds (steady traffic does not hold it back). ``totals`` receives the
    service figure the feed alone writes: the histogram of label delay. ``clock`` stamps each
    feed (the monitor's window time).
    """

    def __init__(
        self,
        totals: ServiceTotals,
        clock: Callable[[], float],
        *,
        max_rows: int = MAX_ROWS,
        linger: float = 0.1,
    ) -> None:
        self.totals = totals
        self.clock = clock
        self.max_rows = max_rows
        self.linger = linger
        self._cond = threading.Condition(threading.Lock())
        self._pool = _Pool()  # what the flusher has handed over and the thread not yet taken
        self._due = 0.0  # when the pool's first transaction has waited ``linger`` seconds
        self._orders: list[str] = []  # _SAVE or _STOP, for the thread
        self._thread: threading.Thread | None = None
        self.feeds = 0
        """Monitor feeds so far (one per pool)."""
        self.snapshots: SnapshotChain | None = None
        """Told of every feed, and saves the window snapshots (on this thread)."""

    # --- lifecycle

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="inferwatch-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Feed what is pooled, then stop the thread."""
        self._order(_STOP)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def put(self, flushed: Flushed) -> None:
        """Hand over one committed transaction (the flusher's ``handover``). It joins the
        pool here, on the flusher's thread; the feed thread is woken only when a pool starts
        (to time its linger) or fills, not for every transaction: each wake-up of another
        thread costs the event loop's thread a share of the interpreter lock."""
        with self._cond:
            pool = self._pool
            was_full = pool.full(self.max_rows)
            started = not pool
            pool.add(flushed)
            if started:
                self._due = time.monotonic() + self.linger
                self._cond.notify()
            elif not was_full and pool.full(self.max_rows):
                self._cond.notify()

    def save_snapshot(self) -> None:
        """Feed what is pooled and save a window snapshot now (on the feed thread)."""
        self._order(_SAVE)

    def _order(self, order: str) -> None:
        with self._cond:
            self._orders.append(order)
            self._cond.notify()

    # --- feed thread

    def _take(self) -> tuple[_Pool, list[str]]:
        """Wait until the pool is due (its linger is over, or it is full) or an order
        comes; then take the pool and the orders."""
        with self._cond:
            while True:
                pool, orders = self._pool, self._orders
                if orders or pool.full(self.max_rows):
                    break
                if not pool:
                    self._cond.wait()
                    continue
                left = self._due - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            self._pool, self._orders = _Pool(), []
            return pool, orders

    def _run(self) -> None:
        while True:
            pool, orders = self._take()
            self._drain(pool)
            self._save(force=bool(orders))
            if _STOP in orders:
                return

    def _drain(self, pool: _Pool) -> None:
        if pool:
            chain = self.snapshots
            try:
                self.feed(pool.jobs, pool.labels)
            except Exception:  # monitoring must never stop the feed
                log.exception("monitor update failed")
                if chain is not None:
                    chain.failed()
            else:
                if chain is not None:
                    chain.absorbed(pool.mark, pool.received, pool.rows, pool.matched)

    def _save(self, *, force: bool) -> None:
        if self.snapshots is not None:
            self.snapshots.save(force=force)

    def feed(
        self,
        jobs: Sequence[PredictionJob],
        labels: Sequence[tuple[ServedModel, Sequence[LabelOutcome]]] = (),
    ) -> None:
        """Feed rows and labels to the monitors of their versions, now. ``labels``: the
        outcomes of each label request, with the served model the request read."""
        now = self.clock()
        self.feeds += 1
        for served, group in _by_served(jobs, lambda j: j.served):
            self._observe(served, group, now)
            self._record_with_rows(served, group, now)
        for served, pairs in _by_served(labels, lambda p: p[0]):
            self._record(served, [o for _, outs in pairs for o in outs], now)

    def _observe(self, served: ServedModel, jobs: Sequence[PredictionJob], now: float) -> None:
        columns: dict[str, np.ndarray] = {
            name: np.concatenate([j.rows.features[name] for j in jobs])
            for name in jobs[0].rows.features
        }
        predictions = np.concatenate([j.rows.predictions for j in jobs])
        probs = [j.rows.probabilities for j in jobs]
        probabilities = (
            np.concatenate([p for p in probs if p is not None])
            if all(p is not None for p in probs)
            else None
        )
        batch: Mapping[str, np.ndarray] | Batch = columns
        if any(j.coerced for j in jobs):
            batch = Batch(columns, coerced_masks(jobs))
        served.monitor.observe(batch, predictions, probabilities, now)

    def _record_with_rows(
        self, served: ServedModel, jobs: Sequence[PredictionJob], now: float
    ) -> None:
        """The labels that came with rows ``served`` scored: its accuracy window and the
        delay histogram, column by column (no object per label)."""
        predicted: list[np.ndarray] = []
        actual: list[Any] = []
        delays: list[np.ndarray] = []
        for job in jobs:
            made, truth = job.rows.labelled_rows()
            if not truth:
                continue
            predicted.append(made)
            actual += truth
            delays.append(np.full(len(truth), job.committed_at - job.rows.timestamp))
        if not predicted:
            return
        served.monitor.record_outcomes(
            outcome_array(np.concatenate(predicted), served.task),
            outcome_array(actual, served.task),
            now,
        )
        with self.totals.lock:
            self.totals.feedback_delay.update_many(np.concatenate(delays))

    def _record(self, served: ServedModel, outcomes: Sequence[LabelOutcome], now: float) -> None:
        """Matched labels of predictions ``served`` made go to its accuracy window (a label
        for another version's prediction measures that version, not this one); the delay of
        every matched label goes to the delay histogram."""
        version = served.info.model_version
        matched = [o for o in outcomes if o.outcome == "matched"]
        if not matched:
            return
        # no object per label: the fields are picked column by column (in C)
        mine = matched
        if not set(map(_VERSION, matched)) <= {None, version}:
            mine = [o for o in matched if o.model_version in (None, version)]
        if mine:
            predicted = outcome_array(list(map(_PREDICTION, mine)), served.task)
            actual = outcome_array(list(map(_LABEL, mine)), served.task)
            served.monitor.record_outcomes(predicted, actual, now)
        delays = [d or 0.0 for d in map(_DELAY, matched)]
        with self.totals.lock:
            self.totals.feedback_delay.update_many(np.asarray(delays, dtype=np.float64))


def _by_served(items: Sequence[Any], key: Callable[[Any], ServedModel]) -> list[tuple[Any, Any]]:
    """``items`` grouped by served model (by identity), in order of first appearance."""
    groups: dict[int, tuple[ServedModel, list[Any]]] = {}
    for item in items:
        served = key(item)
        groups.setdefault(id(served), (served, []))[1].append(item)
    return list(groups.values())


def coerced_masks(jobs: Sequence[PredictionJob]) -> dict[str, np.ndarray]:
    """The jobs' coerced-value masks, concatenated in job order (all ``False`` for a job
    without coerced values)."""
    names = {name for job in jobs if job.coerced for name in job.coerced}
    return {
        name: np.concatenate(
            [
                job.coerced[name]
                if job.coerced and name in job.coerced
                else np.zeros(len(job.rows), dtype=bool)
                for job in jobs
            ]
        )
        for name in names
    }


__all__ = ["MAX_ROWS", "MonitorFeed", "coerced_masks"]
