"""Replay a table through a running inferwatch service, in time order, with delayed labels.

``inferwatch replay DATA --url URL`` rehearses monitoring on your own history: rows go to
``POST /predict`` in the order of their timestamps (the gaps compressed by ``speed``) or at
a fixed ``rate``, and each batch's ground truth goes to ``POST /feedback`` ``label_delay``
seconds after its predictions, joined by the ids the service answered with. Without a
delay the labels travel with their rows (``labels`` beside ``instances``: one request, and
no lookup of the ids); a service that does not take them there (it answers no
``label_counts``), or refuses one of them, gets them on ``/feedback`` instead.

The schedule is computed up front (:func:`schedule`); the sender only sleeps until each
offset, so a slow service stretches the replay instead of bunching requests.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from inferwatch.replay_send import InFlight, decode
from inferwatch.replay_table import (
    ReplayError,
    labels_from_file,
    prepare,
    records_of,
    schedule,
    timestamps_of,
)

MAX_REQUEST_ROWS = 1000
"""Most rows in one request: the service's default ``INFERWATCH_MAX_BATCH_ROWS``."""


@dataclass
class ReplaySummary:
    """What a replay did; printed at the end of ``inferwatch replay``."""

    rows: int = 0
    """Rows in the table."""
    rows_sent: int = 0
    """Rows the service scored (2xx)."""
    requests: int = 0
    errors: int = 0
    """Rows in requests that failed (non-2xx answer or no answer)."""
    labels_sent: int = 0
    labels_matched: int = 0
    """Labels the service joined to a stored prediction."""
    feedback_errors: int = 0
    """Labels in feedback requests that failed."""
    seconds: float = 0.0
    error_messages: list[str] = field(default_factory=list)
    """The first few error answers, for the user to read."""

    def lines(self) -> list[str]:
        out = [
            f"rows sent      {self.rows_sent}/{self.rows} in {self.requests} requests "
            f"({self.seconds:.1f}s)",
            f"errors         {self.errors} rows",
            f"labels         {self.labels_sent} sent, {self.labels_matched} matched",
        ]
        if self.feedback_errors:
            out.append(f"label errors   {self.feedback_errors} labels")
        out.extend(f"  ! {message}" for message in self.error_messages)
        return out


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    labels: list[dict[str, Any]] = field(compare=False)


class Replayer:
    """Sends rows and labels over one HTTP client; see :func:`replay`."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_messages: int = 5,
        in_flight: int = 1,
    ) -> None:
        """``in_flight``: requests at once while rows are due (see ``replay_send.InFlight``);
        before any wait for a later row or label, every answer is in."""
        self._client = client
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._flight = InFlight(client, self._headers, in_flight)
        self._on_answer: Callable[[ReplaySummary], None] | None = None
        self._max_rows = MAX_REQUEST_ROWS
        self._clock = clock
        self._sleep = sleep
        self._max_messages = max_messages
        self._pending: list[_Due] = []
        self._ready: list[dict[str, Any]] = []
        """Labels due but not sent yet (less than a full request, while rows are due)."""
        self._seq = 0
        self._inline = True
        """Labels without a delay go with their rows, until the service shows it does not
        take them there."""

    def _note(self, summary: ReplaySummary, message: str) -> None:
        if len(summary.error_messages) < self._max_messages:
            summary.error_messages.append(message)

    def _send_labels(self, summary: ReplaySummary, labels: list[dict[str, Any]]) -> None:
        def done(response: httpx.Response | None, problem: str) -> None:
            summary.labels_sent += len(labels)
            if response is None or not response.is_success:
                summary.feedback_errors += len(labels)
                if response is not None:
                    problem = f"POST /feedback -> {response.status_code}: {response.text[:300]}"
                self._note(summary, problem)
                return
            summary.labels_matched += _matched(response, len(labels))

        # only the counts are read: the unmatched labels alone are listed, not every one
        self._flight.send("/feedback?results=unmatched", {"labels": labels}, done)

    def run(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        offsets: np.ndarray,
        labels: Sequence[Any] | None = None,
        label_delay: float = 0.0,
        batch_size: int | None = None,
        max_request_rows: int = MAX_REQUEST_ROWS,
        on_batch: Callable[[ReplaySummary], None] | None = None,
    ) -> ReplaySummary:
        """Send ``records`` at their ``offsets``. With ``batch_size`` rows go in groups of
        that many, each at its first row's time; without it, every row already due goes in
        one request. A request never holds more than ``max_request_rows`` (the service's
        ``INFERWATCH_MAX_BATCH_ROWS``): a larger group is split."""
        if batch_size is not None and batch_size < 1:
            raise ReplayError(f"batch size must be >= 1, got {batch_size}")
        if max_request_rows < 1:
            raise ReplayError(f"most rows per request must be >= 1, got {max_request_rows}")
        if label_delay < 0:
            raise ReplayError(f"label delay must be >= 0 seconds, got {label_delay}")
        summary = ReplaySummary(rows=len(records))
        self._pending = []
        self._ready = []
        self._on_answer = on_batch
        self._max_rows = max_request_rows
        try:
            self._run(summary, records, offsets, labels, label_delay, batch_size, max_request_rows)
        finally:
            self._flight.close()
        return summary

    def _run(
        self,
        summary: ReplaySummary,
        records: Sequence[Mapping[str, Any]],
        offsets: np.ndarray,
        labels: Sequence[Any] | None,
        label_delay: float,
        batch_size: int | None,
        max_request_rows: int,
    ) -> None:
        start = self._clock()
        first = 0
        while first < len(records):
            send_at = start + float(offsets[first])
            # Labels that fall due before this batch leave first, in their own time.
            while self._pending and self._pending[0].at < send_at:
                self._wait_until(self._pending[0].at)
                self._flush_due(summary, self._clock())
            if self._ready and send_at > self._clock():
                self._flush_due(summary, self._clock())  # nothing due waits over a pause
            self._wait_until(send_at)
            # Labels already due go out between the batches, in full requests: a replay as
            # fast as the service answers sends them alongside its rows, not all at the end.
            self._flush_due(summary, self._clock(), whole=True)
            if batch_size is None:
                end, now = first + 1, self._clock()
                while (
                    end < len(records)
                    and end - first < max_request_rows
                    and start + float(offsets[end]) <= now
                ):
                    end += 1
            else:
                end = min(first + batch_size, len(records))
            for lo in range(first, end, max_request_rows):
                hi = min(lo + max_request_rows, end)
                self._send_rows(summary, records[lo:hi], labels, lo, label_delay)
            first = end
        self._flight.drain()
        while self._pending or self._ready:
            self._flush_due(summary, self._clock())
            if self._pending:
                self._wait_until(self._pending[0].at)
        self._flight.drain()
        summary.seconds = self._clock() - start

    def _wait_until(self, at: float) -> None:
        if at - self._clock() > 0 and self._flight.busy:
            self._flight.drain()  # every answer in (and its labels queued) before a pause
        wait = at - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _flush_due(self, summary: ReplaySummary, until: float, *, whole: bool = False) -> None:
        """Send the labels due by ``until``, oldest first, in requests of at most the
        service's row limit; with ``whole`` only full requests (the rest waits for more
        labels or for a pause)."""
        while self._pending and self._pending[0].at <= until:
            self._ready.extend(heapq.heappop(self._pending).labels)
        n = len(self._ready)
        stop = n - n % self._max_rows if whole else n
        for lo in range(0, stop, self._max_rows):  # never over the service's limit
            self._send_labels(summary, self._ready[lo : lo + self._max_rows])
        del self._ready[:stop]

    def _send_rows(
        self,
        summary: ReplaySummary,
        batch: Sequence[Mapping[str, Any]],
        labels: Sequence[Any] | None,
        first: int,
        label_delay: float,
    ) -> None:
        """One ``POST /predict`` of ``batch`` (rows ``first``...), with its labels when they
        have no delay; otherwise, once it is answered, its labels are queued."""
        n = len(batch)
        inline = labels is not None and label_delay == 0 and self._inline
        body: dict[str, Any] = {"instances": list(batch)}
        if inline and labels is not None:
            body["labels"] = list(labels[first : first + n])

        def done(response: httpx.Response | None, problem: str) -> None:
            if inline and _refused_labels(response):
                # one label the service refuses would cost the whole batch: the rows go
                # again without them, and their labels to /feedback, each judged alone
                self._inline = False
                self._send_rows(summary, batch, labels, first, label_delay)
                return
            self._rows_answered(
                summary, response, problem, n, labels, first, label_delay, inline=inline
            )
            if self._on_answer is not None:
                self._on_answer(summary)

        summary.requests += 1
        self._flight.send("/predict", body, done)

    def _rows_answered(
        self,
        summary: ReplaySummary,
        response: httpx.Response | None,
        problem: str,
        n: int,
        labels: Sequence[Any] | None,
        first: int,
        label_delay: float,
        *,
        inline: bool = False,
    ) -> None:
        if response is None or not response.is_success:
            summary.errors += n
            if response is not None:
                problem = f"POST /predict -> {response.status_code}: {response.text[:300]}"
            self._note(summary, problem)
            return
        body = _body(response)
        ids = _ids(body)
        summary.rows_sent += n
        if labels is None:
            return
        counts = body.get("label_counts") if isinstance(body, dict) else None
        if inline and isinstance(counts, dict):  # joined in the rows' own transaction
            summary.labels_sent += sum(label is not None for label in labels[first : first + n])
            matched = counts.get("matched", 0)
            summary.labels_matched += matched if isinstance(matched, int) else 0
            return
        if inline:  # a service that ignores labels beside the rows: /feedback from now on
            self._inline = False
        if ids is None:
            self._note(summary, "POST /predict answered without ids; labels not sent")
            return
        batch_labels = [
            {"id": pid, "label": label}
            for pid, label in zip(ids, labels[first : first + n], strict=False)
            if label is not None
        ]
        if batch_labels:
            self._seq += 1
            due = _Due(self._clock() + label_delay, self._seq, batch_labels)
            heapq.heappush(self._pending, due)


def _body(response: httpx.Response) -> Any:
    """The JSON of an answer (``None`` when it is not JSON)."""
    try:
        return decode(response)
    except ValueError:
        return None


def _ids(body: Any) -> list[Any] | None:
    ids = body.get("ids") if isinstance(body, dict) else None
    return list(ids) if isinstance(ids, list) else None


def _refused_labels(response: httpx.Response | None) -> bool:
    """Whether the service refused the request for its ``labels`` (a 422 naming them)."""
    if response is None or response.status_code != 422:
        return False
    body = _body(response)
    field = body.get("field") if isinstance(body, dict) else None
    return isinstance(field, str) and field.startswith("labels")


def _matched(response: httpx.Response, sent: int) -> int:
    """Labels the service says it joined; a 2xx without a count means all of them."""
    try:
        body = decode(response)
    except ValueError:
        return sent
    if isinstance(body, dict):
        counts = body.get("counts")
        if isinstance(counts, dict) and isinstance(counts.get("matched"), int):
            return int(counts["matched"])
        value = body.get("matched")
        if isinstance(value, int):
            return value
        if isinstance(value, list):
            return len(value)
    return sent


def served_categoricals(client: httpx.Client, headers: Mapping[str, str]) -> list[str]:
    """The categorical inputs of the model the service serves (from ``/api/snapshot``);
    empty when the service does not say."""
    try:
        response = client.get("/api/snapshot", headers=dict(headers))
        features = response.json().get("features", []) if response.is_success else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return []
    return [
        str(f["name"])
        for f in features
        if isinstance(f, dict) and f.get("kind") == "categorical" and "name" in f
    ]


def replay(
    frame: pd.DataFrame,
    *,
    url: str,
    target: str | None = None,
    labels_path: Path | None = None,
    timestamp_column: str | None = None,
    drop: Sequence[str] = (),
    speed: float | None = None,
    rate: float | None = None,
    label_delay: float = 0.0,
    batch_size: int | None = None,
    max_request_rows: int = MAX_REQUEST_ROWS,
    token: str | None = None,
    timeout: float = 30.0,
    on_batch: Callable[[ReplaySummary], None] | None = None,
    in_flight: int = 1,
) -> ReplaySummary:
    """Replay ``frame`` through the service at ``url``; see the module docstring.
    ``in_flight``: requests at once while rows are due (answers are still handled in table
    order; rows may reach the service up to that many requests out of order)."""
    if speed is not None and timestamp_column is None:
        raise ReplayError("--speed needs --timestamp-column (or use --rate)")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx.Limits(max_connections=max(in_flight, 1) + 1)
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout, limits=limits) as client:
        records, labels, timestamps = prepare(
            frame,
            target=target,
            labels_path=labels_path,
            timestamp_column=timestamp_column,
            drop=drop,
            categorical=served_categoricals(client, headers),
        )
        offsets = schedule(len(records), timestamps=timestamps, speed=speed, rate=rate)
        return Replayer(client, token=token, in_flight=in_flight).run(
            records,
            offsets=offsets,
            labels=labels,
            label_delay=label_delay,
            batch_size=batch_size,
            max_request_rows=max_request_rows,
            on_batch=on_batch,
        )


__all__ = [
    "MAX_REQUEST_ROWS",
    "ReplayError",
    "ReplaySummary",
    "Replayer",
    "labels_from_file",
    "prepare",
    "records_of",
    "replay",
    "schedule",
    "served_categoricals",
    "timestamps_of",
]
