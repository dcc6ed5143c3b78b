"""The traffic engine: an asyncio client that plays a timeline against a running service.

Requests leave on a schedule (``rate`` per second, never more than ``concurrency`` in
flight); rows come from :mod:`inferwatch.simulate.scenarios`; ground-truth labels for a
``label_coverage`` share of the answered rows are posted to ``/feedback`` ``label_delay``
seconds later. The run ends by itself when the timeline is over.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from inferwatch.simulate.scenarios import (
    DriftMode,
    ExampleData,
    bad_request,
    drift_rows,
    drift_strength,
    feedback_labels,
    sample_rows,
)
from inferwatch.simulate.timeline import Phase, Timeline

FEEDBACK_CHUNK = 500


@dataclass(frozen=True)
class TrafficConfig:
    """How the simulator talks to the service. ``url`` is the service's base URL."""

    url: str
    rate: float = 10.0
    """Requests per second (the starting rate in ``high_load``)."""
    concurrency: int = 8
    """Most requests in flight at once (the starting value in ``high_load``)."""
    batch_size: int = 1
    """Rows per ``/predict`` request; 1 sends one object, more send ``{"instances": [...]}``."""
    seed: int | None = None
    token: str | None = None
    noise: float = 0.05
    drift_features: tuple[str, ...] = ()
    """Features the ``drift`` scenario moves; empty: the first two numeric and the first
    categorical feature of the example."""
    drift_mode: DriftMode = "gradual"
    drift_shift: float = 2.0
    """Shift of drifted numeric features, in reference standard deviations."""
    flip_rate: float = 0.5
    """Share of labels that disagree with the model in ``accuracy_drop``."""
    error_share: float = 0.5
    """Share of requests that are malformed in ``errors``."""
    load_factor: float = 4.0
    """``high_load`` ramps rate and concurrency up to this multiple over the phase."""
    label_delay: float = 5.0
    label_coverage: float = 1.0
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError("rate must be positive")
        if self.concurrency < 1 or self.batch_size < 1:
            raise ValueError("concurrency and batch size must be at least 1")
        if not 0.0 <= self.label_coverage <= 1.0:
            raise ValueError("label coverage must be between 0 and 1")
        if not 0.0 <= self.error_share <= 1.0 or not 0.0 <= self.flip_rate <= 1.0:
            raise ValueError("error share and flip rate must be between 0 and 1")
        if self.label_delay < 0 or self.load_factor < 1:
            raise ValueError("label delay must be >= 0 and load factor >= 1")

    @property
    def base_url(self) -> str:
        url = self.url.rstrip("/")
        for suffix in ("/predict", "/invocations"):
            if url.endswith(suffix):
                url = url[: -len(suffix)]
        return url


@dataclass
class TrafficStats:
    """What the simulator has done so far; it only grows."""

    sent: int = 0
    ok: int = 0
    client_errors: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    rows: int = 0
    bad_requests: int = 0
    labels_sent: int = 0
    labels_failed: int = 0
    labels_dropped: int = 0
    """Labels still waiting for their delay when the run ended."""
    latencies: list[float] = field(default_factory=list)

    def latency_quantile(self, q: float) -> float | None:
        return float(np.quantile(self.latencies, q)) if self.latencies else None


@dataclass(frozen=True)
class Progress:
    """A view of a running simulation for the display."""

    phase: Phase | None
    elapsed: float
    """Seconds since the start of this timeline run."""
    duration: float
    stats: TrafficStats
    rps: float
    """Requests answered per second over the last few seconds."""
    rate: float
    concurrency: int


ProgressCallback = Callable[[Progress], None]


def _matched(response: httpx.Response, sent: int) -> int:
    """Labels the service took: its ``counts.matched`` when it says, else all of them."""
    try:
        matched = response.json()["counts"]["matched"]
    except (ValueError, KeyError, TypeError):
        return sent
    return int(matched) if isinstance(matched, int) else sent


class TrafficEngine:
    """Plays a :class:`Timeline` against the service at ``config.url``.

    ``run`` may be called again (the demo loops its timeline); statistics accumulate.
    """

    def __init__(
        self,
        config: TrafficConfig,
        data: ExampleData,
        *,
        client: httpx.AsyncClient | None = None,
        on_progress: ProgressCallback | None = None,
        on_phase: Callable[[Phase], None] | None = None,
    ) -> None:
        self.config = config
        self.data = data
        self.stats = TrafficStats()
        self._rng = np.random.default_rng(config.seed)
        self._client = client
        self._on_progress = on_progress
        self._on_phase = on_phase
        self._pending: deque[tuple[float, Any, Any]] = deque()
        self._answered: deque[float] = deque()
        self._stop = asyncio.Event()
        self._phase: Phase | None = None
        self._elapsed = 0.0
        self._duration = 0.0
        self._rate = config.rate
        self._limit = config.concurrency
        features = config.drift_features or self._default_drift_features(data)
        data.check_features(features)
        self.drift_features: tuple[str, ...] = tuple(features)

    @staticmethod
    def _default_drift_features(data: ExampleData) -> tuple[str, ...]:
        return data.numeric[:2] + data.categorical[:1]

    def stop(self) -> None:
        """End the current run early (in-flight requests finish)."""
        self._stop.set()

    def progress(self) -> Progress:
        now = time.monotonic()
        while self._answered and self._answered[0] < now - 5.0:
            self._answered.popleft()
        window = min(5.0, max(self._elapsed, 1e-9))
        return Progress(
            self._phase,
            self._elapsed,
            self._duration,
            self.stats,
            len(self._answered) / window,
            self._rate,
            self._limit,
        )

    async def run(self, timeline: Timeline) -> TrafficStats:
        """Play ``timeline`` once; returns the accumulated statistics."""
        self._stop.clear()
        headers = {"content-type": "application/json"}
        if self.config.token:
            headers["authorization"] = f"Bearer {self.config.token}"
        if self._client is None:
            limits = httpx.Limits(max_connections=self.config.concurrency * 8)
            async with httpx.AsyncClient(
                base_url=self.config.base_url,
                headers=headers,
                timeout=self.config.timeout,
                limits=limits,
            ) as client:
                return await self._run(client, timeline, {})
        return await self._run(self._client, timeline, headers)

    async def _run(
        self, client: httpx.AsyncClient, timeline: Timeline, headers: dict[str, str]
    ) -> TrafficStats:
        self._duration = timeline.duration
        labels = asyncio.create_task(self._feedback_loop(client, headers))
        ticker = asyncio.create_task(self._tick_loop())
        in_flight: set[asyncio.Task[None]] = set()
        try:
            await self._dispatch(client, timeline, headers, in_flight)
            if in_flight:
                await asyncio.wait(in_flight, timeout=self.config.timeout)
        finally:
            for task in (*in_flight, ticker):
                task.cancel()
            self._stop.set()
            try:
                await asyncio.wait_for(labels, timeout=self.config.timeout)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                labels.cancel()
            self.stats.labels_dropped += len(self._pending)
            self._pending.clear()
            if self._on_progress is not None:
                self._on_progress(self.progress())
        return self.stats

    async def _dispatch(
        self,
        client: httpx.AsyncClient,
        timeline: Timeline,
        headers: dict[str, str],
        in_flight: set[asyncio.Task[None]],
    ) -> None:
        start = time.monotonic()
        next_at = start
        while not self._stop.is_set():
            now = time.monotonic()
            self._elapsed = now - start
            position = timeline.at(self._elapsed)
            if position is None:
                return
            phase, in_phase = position
            if phase is not self._phase:
                self._phase = phase
                if self._on_phase is not None:
                    self._on_phase(phase)
            self._rate, self._limit = self._load(phase, in_phase)
            remaining = timeline.duration - self._elapsed
            if len(in_flight) >= self._limit:
                await asyncio.wait(
                    in_flight, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                continue
            if now < next_at:
                await asyncio.sleep(min(next_at - now, remaining))
                continue
            task = asyncio.create_task(self._send(client, headers, phase, in_phase))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            # Never make up for more than a second of lag with a burst.
            next_at = max(next_at + 1.0 / self._rate, now - 1.0)

    def _load(self, phase: Phase, in_phase: float) -> tuple[float, int]:
        if phase.scenario != "high_load":
            return self.config.rate, self.config.concurrency
        grow = 1.0 + (self.config.load_factor - 1.0) * min(1.0, in_phase / phase.seconds)
        return self.config.rate * grow, max(1, round(self.config.concurrency * grow))

    async def _send(
        self, client: httpx.AsyncClient, headers: dict[str, str], phase: Phase, in_phase: float
    ) -> None:
        cfg = self.config
        if phase.scenario == "errors" and self._rng.random() < cfg.error_share:
            bad = bad_request(self.data, self._rng)
            self.stats.bad_requests += 1
            await self._post(client, "/predict", headers, content=bad.body)
            return
        batch = sample_rows(self.data, cfg.batch_size, self._rng, cfg.noise)
        if phase.scenario == "drift":
            strength = drift_strength(cfg.drift_mode, in_phase, phase.seconds)
            batch = drift_rows(
                self.data, batch, self.drift_features, cfg.drift_shift, strength, self._rng
            )
        payload: Any = batch.rows[0] if cfg.batch_size == 1 else {"instances": batch.rows}
        response = await self._post(client, "/predict", headers, json=payload)
        if response is None or response.status_code >= 300:
            return
        self.stats.rows += len(batch.rows)
        try:
            answer = response.json()
            ids = list(answer["ids"])
            predictions = list(answer["predictions"])
        except (ValueError, KeyError, TypeError):
            return
        if len(ids) != len(batch.labels) or len(predictions) != len(ids):
            return
        flip = cfg.flip_rate if phase.scenario == "accuracy_drop" else 0.0
        truth = feedback_labels(batch.labels, predictions, flip, self.data.classes, self._rng)
        due = time.monotonic() + cfg.label_delay
        covered = self._rng.random(len(ids)) < cfg.label_coverage
        for pred_id, label, keep in zip(ids, truth, covered, strict=True):
            if keep:
                self._pending.append((due, pred_id, label))

    async def _post(
        self, client: httpx.AsyncClient, path: str, headers: dict[str, str], **kwargs: Any
    ) -> httpx.Response | None:
        self.stats.sent += 1
        started = time.monotonic()
        try:
            response = await client.post(path, headers=headers, **kwargs)
        except httpx.HTTPError:
            self.stats.transport_errors += 1
            return None
        finished = time.monotonic()
        self.stats.latencies.append(finished - started)
        self._answered.append(finished)
        code = response.status_code
        if code < 400:
            self.stats.ok += 1
        elif code < 500:
            self.stats.client_errors += 1
        else:
            self.stats.server_errors += 1
        return response

    async def _feedback_loop(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        interval = min(0.5, max(0.05, self.config.label_delay / 4))
        while True:
            stopping = self._stop.is_set()
            now = time.monotonic()
            due = []
            while self._pending and self._pending[0][0] <= now:
                _, pred_id, label = self._pending.popleft()
                due.append({"id": pred_id, "label": label})
            for start in range(0, len(due), FEEDBACK_CHUNK):
                chunk = due[start : start + FEEDBACK_CHUNK]
                accepted = 0
                try:
                    response = await client.post(
                        "/feedback", headers=headers, json={"labels": chunk}
                    )
                    if response.status_code < 300:
                        accepted = _matched(response, len(chunk))
                except httpx.HTTPError:
                    pass
                self.stats.labels_sent += accepted
                self.stats.labels_failed += len(chunk) - accepted
            if stopping:
                return
            await asyncio.sleep(interval)

    async def _tick_loop(self) -> None:
        while self._on_progress is not None:
            self._on_progress(self.progress())
            await asyncio.sleep(0.5)


__all__ = ["Progress", "TrafficConfig", "TrafficEngine", "TrafficStats"]
