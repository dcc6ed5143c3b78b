"""A short in-memory history of the service, for the dashboard when Prometheus is away.

Every ``interval`` seconds the service appends one ``HistoryPoint``: the label-window
performance (accuracy, precision, recall and F1, or MAE and RMSE for a regressor), the
label-free estimate, traffic (requests per second, p95 latency, error rate of the model
routes) and the PSI of each feature. The ring keeps the last
``capacity`` points (900 x 2 s = 30 min) and costs nothing per request.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inferwatch.core.snapshot import MonitorSnapshot

TRAFFIC_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
    10.0,
)


class Traffic:
    """Cumulative request count, error count and latency buckets of the model routes.

    ``add`` is called by the HTTP middleware from the event loop; ``take`` by the sampler.

    >>> t = Traffic()
    >>> for s in (0.001, 0.002, 0.004, 0.2):
    ...     t.add(200, s)
    >>> t.add(502, 0.01)
    >>> d = t.take()
    >>> d.requests, d.errors
    (5, 1)
    """

    def __init__(self) -> None:
        self._bounds = TRAFFIC_BUCKETS
        self._counts = [0] * (len(TRAFFIC_BUCKETS) + 1)
        self._requests = 0
        self._errors = 0
        self._last: tuple[int, int, list[int]] = (0, 0, list(self._counts))

    def add(self, status: int, seconds: float) -> None:
        self._requests += 1
        if status >= 400:
            self._errors += 1
        self._counts[bisect_left(self._bounds, seconds)] += 1  # the first bound >= seconds

    def take(self) -> TrafficDelta:
        """What happened since the previous ``take``."""
        counts = list(self._counts)
        requests, errors = self._requests, self._errors
        last_requests, last_errors, last_counts = self._last
        self._last = (requests, errors, counts)
        return TrafficDelta(
            requests - last_requests,
            errors - last_errors,
            [a - b for a, b in zip(counts, last_counts, strict=True)],
            self._bounds,
        )


@dataclass(frozen=True)
class TrafficDelta:
    requests: int
    errors: int
    counts: list[int]
    bounds: tuple[float, ...]

    def quantile(self, q: float) -> float | None:
        """Latency quantile by linear interpolation inside the bucket (as Prometheus does)."""
        total = sum(self.counts)
        if total == 0:
            return None
        rank = q * total
        seen = 0
        lower = 0.0
        for i, count in enumerate(self.counts):
            upper = self.bounds[i] if i < len(self.bounds) else self.bounds[-1]
            if seen + count >= rank and count > 0:
                return lower + (upper - lower) * (rank - seen) / count
            seen += count
            lower = upper
        return self.bounds[-1]


@dataclass(frozen=True)
class HistoryPoint:
    timestamp: float
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    estimated_accuracy: float | None
    labels: int
    window_rows: int
    rps: float
    p95_seconds: float | None
    error_rate: float | None
    drift: dict[str, float] = field(default_factory=dict)
    """Feature name to PSI over the window."""
    prediction_drift: float | None = None
    mae: float | None = None
    """Regression: mean absolute error over the label window."""
    rmse: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp,
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "estimated_accuracy": self.estimated_accuracy,
            "labels": self.labels,
            "window_rows": self.window_rows,
            "rps": self.rps,
            "p95_seconds": self.p95_seconds,
            "error_rate": self.error_rate,
            "drift": self.drift,
            "prediction_drift": self.prediction_drift,
            "mae": self.mae,
            "rmse": self.rmse,
        }


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def history_point(
    snap: MonitorSnapshot, traffic: TrafficDelta, seconds: float, timestamp: float
) -> HistoryPoint:
    perf = snap.performance
    psi = {f.name: f.scores.get("psi") for f in snap.features}
    return HistoryPoint(
        timestamp=timestamp,
        accuracy=_finite_or_none(perf.accuracy),
        precision=_finite_or_none(perf.precision),
        recall=_finite_or_none(perf.recall),
        f1=_finite_or_none(perf.f1),
        estimated_accuracy=_finite_or_none(snap.estimated_accuracy),
        labels=perf.labels,
        window_rows=snap.window_rows,
        rps=traffic.requests / seconds if seconds > 0 else 0.0,
        p95_seconds=traffic.quantile(0.95),
        error_rate=traffic.errors / traffic.requests if traffic.requests else None,
        drift={k: v for k, v in psi.items() if v is not None and np.isfinite(v)},
        prediction_drift=_finite_or_none(snap.prediction.scores.get("psi")),
        mae=_finite_or_none(perf.mae),
        rmse=_finite_or_none(perf.rmse),
    )


class HistoryRing:
    """The last ``capacity`` history points, oldest first. Thread-safe."""

    def __init__(self, capacity: int = 900) -> None:
        self._points: deque[HistoryPoint] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def append(self, point: HistoryPoint) -> None:
        with self._lock:
            self._points.append(point)

    def since(self, timestamp: float = 0.0) -> list[HistoryPoint]:
        with self._lock:
            return [p for p in self._points if p.timestamp > timestamp]

    def __len__(self) -> int:
        return len(self._points)


__all__ = ["HistoryPoint", "HistoryRing", "Traffic", "TrafficDelta", "history_point"]
