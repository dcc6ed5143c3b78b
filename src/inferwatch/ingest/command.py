"""``inferwatch ingest`` and ``inferwatch datalake``: the processes around the worker."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import CollectorRegistry, start_http_server

from inferwatch.ingest.service import ServiceSink
from inferwatch.ingest.source import HttpDataSource, SourceMetrics
from inferwatch.ingest.sources import StreamOptions, kind_of, open_stream_source
from inferwatch.ingest.stream import StreamWorker
from inferwatch.ingest.worker import IngestionWorker, IngestStats


async def _ingest(
    source_url: str,
    service_url: str,
    *,
    registry: CollectorRegistry,
    poll_seconds: float,
    batch_size: int,
    duration: float | None,
    token: str | None,
    source_timeout: float,
    label_field: str | None,
) -> IngestStats:
    metrics = SourceMetrics(registry)
    timeout = httpx.Timeout(source_timeout, connect=min(source_timeout, 5.0))
    async with (
        httpx.AsyncClient(timeout=timeout) as source_client,
        httpx.AsyncClient(timeout=30.0) as service_client,
    ):
        source = HttpDataSource(source_url, metrics=metrics, client=source_client)
        worker = IngestionWorker(
            source,
            service_client,
            service_url=service_url,
            poll_seconds=poll_seconds,
            batch_size=batch_size,
            label_field=label_field,
            token=token,
        )
        return await worker.run(duration)


async def _stream(
    source_url: str,
    service_url: str,
    *,
    registry: CollectorRegistry,
    options: StreamOptions,
    duration: float | None,
    token: str | None,
) -> IngestStats:
    metrics = SourceMetrics(registry)
    source = open_stream_source(source_url, metrics, options)
    async with httpx.AsyncClient(timeout=30.0) as client:
        sink = ServiceSink(client, service_url, token=token)
        worker = StreamWorker(source, sink, metrics, wait_seconds=min(options.poll_seconds, 1.0))
        await worker.run(duration)
    s = sink.stats
    return IngestStats(
        pulls=worker.stats.deliveries,
        failed_pulls=worker.stats.service_retries,
        rows=worker.stats.rows,
        scored=s.scored + s.duplicates,
        rejected=s.rejected,
        labels=s.labels,
    )


def run_ingest(
    source_url: str,
    service_url: str,
    *,
    metrics_host: str = "127.0.0.1",
    metrics_port: int = 9101,
    poll_seconds: float = 5.0,
    batch_size: int = 100,
    duration: float | None = None,
    token: str | None = None,
    source_timeout: float = 10.0,
    label_field: str | None = "label",
    stream: StreamOptions | None = None,
) -> IngestStats:
    """Run the worker, exposing its ``inferwatch_source_*`` metrics on ``/metrics``.

    An ``http(s)://`` source is pulled in pages; a lake (``file://``, ``s3://``) or an MQTT
    topic (``mqtt://``) is streamed with ``stream``'s options.
    """
    registry = CollectorRegistry()
    start_http_server(metrics_port, addr=metrics_host, registry=registry)
    if kind_of(source_url) != "http":
        options = stream or StreamOptions(batch_size=batch_size, label_field=label_field)
        return asyncio.run(
            _stream(
                source_url,
                service_url,
                registry=registry,
                options=options,
                duration=duration,
                token=token,
            )
        )
    return asyncio.run(
        _ingest(
            source_url,
            service_url,
            registry=registry,
            poll_seconds=poll_seconds,
            batch_size=batch_size,
            duration=duration,
            token=token,
            source_timeout=source_timeout,
            label_field=label_field,
        )
    )


def run_datalake(
    host: str, port: int, example: str, *, seed: int, error_rate: float, latency: float
) -> None:
    """Serve ``example``'s rows as a data lake until interrupted."""
    import uvicorn

    from inferwatch.examples import load_example_frame
    from inferwatch.ingest.datalake import Faults, create_datalake

    features, labels = load_example_frame(example)
    app = create_datalake(
        features, labels, seed=seed, faults=Faults(error_rate=error_rate, latency_seconds=latency)
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")


__all__ = ["run_datalake", "run_ingest"]
