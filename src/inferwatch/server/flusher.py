"""Group commit: the request path appends, one writer thread makes it durable.

A request puts a job (its prediction records or labels and an asyncio future) on the
queue and awaits the future. The writer thread takes *everything* queued, writes it in
one store transaction, resolves the futures on their event loop, then hands what it
committed to ``handover`` (the monitor feed). There is no fixed interval: while one
transaction is being written the next requests pile up and share the next one, so the batch
size follows the load. The writer keeps nothing back: pooling for the monitor is the feed's
business. Requests are validated before they join a transaction; should one fail anyway, its
jobs are written again one by one, so only the culprit's request sees the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from inferwatch.store import LabelItem, LabelOutcome, PredictionBatch, PredictionStore

if TYPE_CHECKING:
    from inferwatch.server.served import ServedModel

log = logging.getLogger(__name__)


class FlusherStopped(RuntimeError):
    """The writer is not running (the service is shutting down)."""


@dataclass
class PredictionJob:
    """Predictions of one request: what the store keeps and what the monitor observes."""

    rows: PredictionBatch
    future: asyncio.Future[None]
    served: ServedModel
    """The model version that scored the rows: its monitor observes them."""
    coerced: Mapping[str, np.ndarray] | None = None
    """Per column, the rows whose value was coerced (e.g. ``"5.1"`` for a number): the
    monitor counts them as ``wrong_type``. ``None`` when nothing was coerced."""
    committed_at: float = 0.0
    """When the transaction that stored the rows committed (the labels that came with them
    were received then)."""

    @property
    def batch(self) -> Mapping[str, np.ndarray]:
        return self.rows.features

    @property
    def predictions(self) -> np.ndarray:
        return self.rows.predictions

    @property
    def probabilities(self) -> np.ndarray | None:
        return self.rows.probabilities


@dataclass
class LabelJob:
    """Labels of one feedback request; the future receives one outcome per label."""

    labels: Sequence[LabelItem]
    future: asyncio.Future[list[LabelOutcome]]
    served: ServedModel
    """The model version the request read: its monitor records the matched labels."""


@dataclass
class Flushed:
    """What one transaction carried, handed over once it is durable."""

    timestamp: float
    predictions: list[PredictionJob] = field(default_factory=list)
    outcomes: list[tuple[LabelJob, list[LabelOutcome]]] = field(default_factory=list)
    """Each label job with the outcomes of its labels."""
    mark: int = 0
    """The store's newest batch id once this transaction committed (``last_written``)."""


def _resolve_all(results: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, value, error in results:
        if future.done():  # the client went away and the request was cancelled
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


class Flusher:
    """The writer thread in front of a ``PredictionStore``."""

    def __init__(
        self,
        store: PredictionStore,
        handover: Callable[[Flushed], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.handover = handover
        self.clock = clock
        self._queue: queue.SimpleQueue[list[PredictionJob | LabelJob] | None] = queue.SimpleQueue()
        self._outbox: list[PredictionJob | LabelJob] = []
        self._handoff_scheduled = False
        self._accepting = False
        self._thread: threading.Thread | None = None
        self.transactions = 0
        """Transactions written so far (a figure for tests and the bench)."""

    # --- lifecycle

    def start(self) -> None:
        self._accepting = True
        self._thread = threading.Thread(target=self._run, name="inferwatch-flusher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        self._accepting = False
        self._queue.put(None)  # wakes the writer; everything queued before it is written
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        # a request that slipped in after the stop marker gets an error, never a hang
        results: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        while True:
            try:
                left = self._queue.get_nowait()
            except queue.Empty:
                break
            for job in left or ():
                error = FlusherStopped("the prediction store writer stopped")
                results.setdefault(job.future.get_loop(), []).append((job.future, None, error))
        self._deliver(results)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._accepting

    # --- request side (event loop thread)

    def _submit(self, job: PredictionJob | LabelJob) -> None:
        """Jobs submitted during one event-loop iteration travel to the writer together, at
        the start of the next iteration: one thread wake-up for all of them."""
        if not self._accepting:
            raise FlusherStopped("the prediction store writer is not running")
        self._outbox.append(job)
        if not self._handoff_scheduled:
            self._handoff_scheduled = True
            job.future.get_loop().call_soon(self._handoff)

    def _handoff(self) -> None:
        self._handoff_scheduled = False
        jobs, self._outbox = self._outbox, []
        if jobs:
            self._queue.put(jobs)

    def submit_predictions(
        self,
        rows: PredictionBatch,
        served: ServedModel,
        coerced: Mapping[str, np.ndarray] | None = None,
    ) -> asyncio.Future[None]:
        """Queue predictions scored by ``served``; the future resolves once they are
        committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._submit(PredictionJob(rows, future, served, coerced))
        return future

    def submit_labels(
        self, labels: Sequence[LabelItem], served: ServedModel
    ) -> asyncio.Future[list[LabelOutcome]]:
        """Queue labels; the future resolves to their outcomes once they are committed."""
        future: asyncio.Future[list[LabelOutcome]] = asyncio.get_running_loop().create_future()
        self._submit(LabelJob(labels, future, served))
        return future

    # --- writer thread

    def _run(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        while True:
            first = get()
            jobs: list[PredictionJob | LabelJob] = []
            stop = first is None
            if first is not None:
                jobs.extend(first)
            while True:  # drain whatever else is queued now: one transaction for all
                try:
                    more = get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    jobs.extend(more)
            if jobs:
                self._flush(jobs)
            if stop:
                return

    def _flush(self, jobs: list[PredictionJob | LabelJob]) -> None:
        prediction_jobs = [j for j in jobs if isinstance(j, PredictionJob)]
        label_jobs = [j for j in jobs if isinstance(j, LabelJob)]
        records = [j.rows for j in prediction_jobs]
        labels = [item for j in label_jobs for item in j.labels]
        now = self.clock()
        results: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        try:
            outcomes = self.store.write(records, labels, now)
        except Exception as exc:
            if len(jobs) > 1:  # one job may be the culprit: it alone must fail
                log.warning(
                    "a group commit of %d jobs failed (%s): writing them one by one", len(jobs), exc
                )
                for job in jobs:
                    self._flush([job])
                return
            log.exception("prediction store write failed")
            for job in jobs:
                results.setdefault(job.future.get_loop(), []).append((job.future, None, exc))
            self._deliver(results)
            return
        self.transactions += 1
        start = 0
        committed = Flushed(now, prediction_jobs, mark=getattr(self.store, "last_written", 0))
        for ljob in label_jobs:
            end = start + len(ljob.labels)
            mine = list(outcomes[start:end])
            committed.outcomes.append((ljob, mine))
            results.setdefault(ljob.future.get_loop(), []).append((ljob.future, mine, None))
            start = end
        for pjob in prediction_jobs:
            pjob.committed_at = now
            results.setdefault(pjob.future.get_loop(), []).append((pjob.future, None, None))
        self._deliver(results)
        try:
            self.handover(committed)
        except Exception:  # monitoring must never stop the writer
            log.exception("monitor handover failed")

    @staticmethod
    def _deliver(results: dict[asyncio.AbstractEventLoop, list[Any]]) -> None:
        for loop, items in results.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_resolve_all, items)


__all__ = ["Flushed", "Flusher", "FlusherStopped", "LabelJob", "PredictionJob"]
