"""``SourceMetrics``: the ``inferwatch_source_*`` families every kind of source reports.

One set of metrics for HTTP pulls, lake files and MQTT topics, so the same alerts watch them
all: ``DataLakeUnavailable`` on errors of kind ``unavailable`` (a 503, a refused connection,
a broker that went away), ``HighIngestionDelay`` on the request latency and on the lag (the
age of the oldest record read but not yet scored and stored).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SOURCE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0)

ERROR_KINDS = ("unavailable", "timeout", "server_error", "client_error", "unreadable", "rejected")
"""``unavailable``: the source cannot be reached or answered 503 (what DataLakeUnavailable
counts); ``timeout``; ``server_error``: another 5xx; ``client_error``: a 4xx (credentials,
missing bucket); ``unreadable``: a page, file or message that cannot be parsed; ``rejected``:
records the service refused (4xx), skipped so they cannot block the source."""


def error_kind(status_code: str) -> str:
    """The error kind of a request outcome (an HTTP status or a transport word).

    >>> [error_kind(s) for s in ("503", "500", "404", "timeout", "connect_error")]
    ['unavailable', 'server_error', 'client_error', 'timeout', 'unavailable']
    """
    if status_code in ("503", "connect_error", "unavailable"):
        return "unavailable"
    if status_code == "timeout":
        return "timeout"
    if status_code.startswith("5"):
        return "server_error"
    if status_code.startswith("4"):
        return "client_error"
    return "unreadable"


class SourceMetrics:
    """Requests by outcome, records read, errors by kind, latency, lag and last success."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "inferwatch_source_requests",
            "Requests to a data source (pulls, object reads, broker connections), by HTTP "
            "status or transport outcome (timeout, connect_error).",
            ("source", "status_code"),
            registry=registry,
        )
        self.records = Counter(
            "inferwatch_source_records",
            "Records (rows, messages) read from a data source and scored and stored.",
            ("source",),
            registry=registry,
        )
        self.errors = Counter(
            "inferwatch_source_errors",
            "Failures reading a data source or handing its records on, by kind.",
            ("source", "kind"),
            registry=registry,
        )
        self.duration = Histogram(
            "inferwatch_source_request_duration_seconds",
            "Latency of requests to a data source (MQTT: arrival to acknowledgement).",
            ("source",),
            buckets=SOURCE_BUCKETS,
            registry=registry,
        )
        self.lag = Gauge(
            "inferwatch_source_lag_seconds",
            "Age of the oldest record known at the source but not yet scored and stored.",
            ("source",),
            registry=registry,
        )
        self.last_success = Gauge(
            "inferwatch_source_last_success_timestamp_seconds",
            "Unix time of the last successful read from a data source.",
            ("source",),
            registry=registry,
        )

    def prepare(self, source: str) -> None:
        """Pre-initialise the series of ``source`` so rates start from zero."""
        for status in ("200", "503"):
            self.requests.labels(source, status)
        for kind in ERROR_KINDS:
            self.errors.labels(source, kind)
        self.records.labels(source)
        self.duration.labels(source)
        self.lag.labels(source)
        self.last_success.labels(source)

    def record(self, source: str, status_code: str, seconds: float, now: float) -> None:
        """One request and its outcome; a non-2xx outcome is also an error of its kind."""
        self.requests.labels(source, status_code).inc()
        self.duration.labels(source).observe(seconds)
        if status_code.startswith("2"):
            self.last_success.labels(source).set(now)
        else:
            self.errors.labels(source, error_kind(status_code)).inc()

    def error(self, source: str, kind: str, n: int = 1) -> None:
        self.errors.labels(source, kind).inc(n)

    def stored(self, source: str, n: int) -> None:
        self.records.labels(source).inc(n)


__all__ = ["ERROR_KINDS", "SOURCE_BUCKETS", "SourceMetrics", "error_kind"]
