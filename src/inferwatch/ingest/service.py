"""``ServiceSink``: hands a delivery's rows to ``/predict`` and its labels to ``/feedback``.

What the service answers decides what happens to the rows:

- 2xx: scored and stored; the labels follow, joined by the ids the service answered.
- 409: an id was stored before (a delivery read again after a crash or a reconnect). A
  batch is split until the single row that is a duplicate is known; it counts as stored.
- any other 4xx: the service refuses these rows. The batch is split the same way so only
  the rows at fault are dropped (counted as ``rejected``) and the rest are scored.
- 5xx or no answer: the service is down; ``SinkUnavailable`` is raised and the caller
  retries the whole delivery later, so nothing is lost.

Labels whose prediction is not stored yet (``unknown_id``, a label that overtook its row)
are kept and tried again with the next deliveries, for ``label_patience`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from inferwatch.core import jsonbody
from inferwatch.ingest.delivery import Delivery

log = logging.getLogger(__name__)


class SinkUnavailable(Exception):
    """The service did not store the rows (5xx or no answer): try the delivery again."""


@dataclass
class SinkStats:
    scored: int = 0
    duplicates: int = 0
    rejected: int = 0
    labels: int = 0
    labels_waiting: int = 0
    rejections: list[str] = field(default_factory=list)


class ServiceSink:
    def __init__(
        self,
        client: httpx.AsyncClient,
        service_url: str,
        *,
        token: str | None = None,
        label_patience: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.sleep = sleep
        self.client = client
        self.url = service_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.label_patience = label_patience
        self.clock = clock
        self.stats = SinkStats()
        self._waiting: dict[str, tuple[Any, float]] = {}

    async def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        headers = {**self.headers, "content-type": "application/json"}
        try:
            content = jsonbody.dumps(body, keep_non_finite=True)
            response = await self.client.post(f"{self.url}{path}", content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise SinkUnavailable(f"POST {path}: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise SinkUnavailable(f"POST {path}: {response.status_code}")
        return response

    async def deliver(self, delivery: Delivery) -> int:
        """Score and store ``delivery``'s rows, then send its labels; returns rows stored."""
        labels: list[tuple[str, Any]] = []
        stored = 0
        if delivery.records:
            stored = await self._predict(delivery.records, delivery.ids, delivery.labels, labels)
        labels.extend(delivery.late_labels)
        delay = 0.5
        while True:  # the rows are stored: retry only the labels, never the rows again
            try:
                await self._feedback(labels)
                return stored
            except SinkUnavailable as exc:
                log.warning("labels not stored yet (%s); retrying in %.1fs", exc, delay)
                await self.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _predict(
        self,
        records: list[dict[str, Any]],
        ids: list[str] | None,
        labels: list[Any] | None,
        out_labels: list[tuple[str, Any]],
    ) -> int:
        body: dict[str, Any] = {"instances": records}
        if ids is not None:
            body["ids"] = ids
        response = await self._post("/predict", body)
        if response.status_code == 200:
            answered = orjson.loads(response.content)["ids"]
            self.stats.scored += len(answered)
            if labels is not None:
                out_labels.extend(
                    (i, y) for i, y in zip(answered, labels, strict=True) if y is not None
                )
            return len(answered)
        if len(records) > 1:
            half = len(records) // 2
            first = await self._predict(
                records[:half], _part(ids, 0, half), _part(labels, 0, half), out_labels
            )
            rest = await self._predict(
                records[half:], _part(ids, half, None), _part(labels, half, None), out_labels
            )
            return first + rest
        if response.status_code == 409 and ids is not None:
            self.stats.duplicates += 1  # stored before this delivery was read again
            if labels is not None and labels[0] is not None:
                out_labels.append((ids[0], labels[0]))
            return 1
        self.stats.rejected += 1
        if len(self.stats.rejections) < 5:
            self.stats.rejections.append(f"{response.status_code}: {response.text[:200]}")
        log.warning("service refused a record: %s %s", response.status_code, response.text[:200])
        return 0

    async def _feedback(self, labels: list[tuple[str, Any]]) -> None:
        now = self.clock()
        for pid, (label, since) in list(self._waiting.items()):
            if now - since > self.label_patience:
                del self._waiting[pid]
                log.warning("label for %s dropped: its prediction never arrived", pid)
            else:
                labels.append((pid, label))
        if not labels:
            return
        firsts = {pid: self._waiting.get(pid, (None, now))[1] for pid, _ in labels}
        body = {"labels": [{"id": pid, "label": label} for pid, label in labels]}
        response = await self._post("/feedback", body)
        self._waiting.clear()
        for pid, label, outcome in _outcomes(response, labels):
            if outcome == "matched":
                self.stats.labels += 1
            elif outcome == "unknown_id":
                self._waiting[pid] = (label, firsts[pid])
        self.stats.labels_waiting = len(self._waiting)

    def waiting_labels(self) -> int:
        return len(self._waiting)


def _part(values: list[Any] | None, start: int, stop: int | None) -> list[Any] | None:
    return None if values is None else values[start:stop]


def _outcomes(
    response: httpx.Response, labels: list[tuple[str, Any]]
) -> list[tuple[str, Any, str]]:
    """Each label's outcome from a /feedback answer (a single label may answer 404/422)."""
    if response.status_code == 404 and len(labels) == 1:
        return [(labels[0][0], labels[0][1], "unknown_id")]
    if response.status_code != 200:
        return [(pid, label, "invalid") for pid, label in labels]
    results = orjson.loads(response.content).get("results", [])
    return [
        (pid, label, str(r.get("outcome")))
        for (pid, label), r in zip(labels, results, strict=False)
    ]


__all__ = ["ServiceSink", "SinkStats", "SinkUnavailable"]
