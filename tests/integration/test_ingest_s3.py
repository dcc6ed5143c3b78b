"""Date-partitioned Parquet on an S3-compatible server (moto) through the real service; 503s
from the store fire DataLakeUnavailable in a real Prometheus, which resolves when it is back."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, start_http_server
from tests.support.faultproxy import FaultProxy
from tests.support.lake import write_partition
from tests.support.waiting import free_port, wait_until

from inferwatch.ingest.metrics import SourceMetrics
from inferwatch.ingest.service import ServiceSink
from inferwatch.ingest.sources import StreamOptions, open_stream_source
from inferwatch.ingest.stream import StreamWorker
from inferwatch.settings import Settings
from inferwatch.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    """A moto S3 server with bucket ``lake``: its URL and an s3fs filesystem on it."""
    import s3fs
    from moto.server import ThreadedMotoServer

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": url}, skip_instance_cache=True)
    fs.mkdir("lake")
    yield url, fs
    server.stop()


def firing(prom: str) -> set[str]:
    alerts = httpx.get(prom + "/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}


def test_s3_lake_partitions_restart_and_an_outage_seen_by_prometheus(
    s3: tuple[str, Any], service: Any, tmp_path: Path
) -> None:
    moto_url, fs = s3
    proxy = FaultProxy(moto_url)
    proxy.start()
    running = service()
    write_partition("lake/readings", "2026-11-21", 100, 0, fs=fs)
    registry = CollectorRegistry()
    metrics_port = free_port()
    http_server, _ = start_http_server(metrics_port, addr="127.0.0.1", registry=registry)
    options = StreamOptions(
        batch_size=40,
        poll_seconds=0.5,
        id_field="reading_id",
        endpoint_url=proxy.url,
        cursor_dir=tmp_path / "cursors",
    )
    metrics = SourceMetrics(registry)

    def rows() -> int:
        return int(running.client.get("/api/snapshot").json()["window_rows"])

    stop = threading.Event()

    def work(steps_until: Any) -> StreamWorker:
        async def go() -> StreamWorker:
            source = open_stream_source("s3://lake/readings/", metrics, options)
            async with httpx.AsyncClient(timeout=30) as client:
                worker = StreamWorker(
                    source, ServiceSink(client, running.url), metrics, wait_seconds=0.3
                )
                await source.start()
                while not steps_until(worker) and not stop.is_set():
                    await worker.step()
                await source.close()
                return worker

        return asyncio.run(go())

    try:
        # a first process stores 80 of the 100 rows and stops
        first = work(lambda w: w.stats.stored >= 80)
        assert first.stats.stored == 80
        # a second process resumes at row 80 and picks up a partition written meanwhile
        write_partition("lake/readings", "2026-11-22", 50, 100, fs=fs)
        second = work(lambda w: w.stats.stored >= 70)
        assert second.stats.stored == 70 and second.sink.stats.duplicates == 0
        wait_until(lambda: rows() == 150, what="150 rows, each once")

        settings = Settings(
            port=0,
            data_dir=tmp_path / "stack",
            prometheus_port=free_port(),
            alertmanager_port=free_port(),
            scrape_interval="1s",
            evaluation_interval="1s",
        )
        target = running.url.removeprefix("http://")
        with LocalStack(
            settings,
            fast=True,
            fast_for=1,
            rule_range_seconds=5,
            scrape_target=target,
            extra_jobs={"inferwatch-ingest": f"127.0.0.1:{metrics_port}"},
        ) as stack:
            prom = stack.prometheus_url
            proxy.failing.set()
            thread = threading.Thread(target=work, args=(lambda w: False,), daemon=True)
            thread.start()
            wait_until(
                lambda: "DataLakeUnavailable" in firing(prom),
                timeout=60,
                what="DataLakeUnavailable firing in Prometheus",
            )
            assert proxy.refused > 0
            proxy.failing.clear()
            write_partition("lake/readings", "2026-11-23", 20, 150, fs=fs)
            wait_until(lambda: rows() == 170, timeout=60, what="the new partition after the outage")
            wait_until(
                lambda: "DataLakeUnavailable" not in firing(prom),
                timeout=60,
                what="DataLakeUnavailable resolved",
            )
            stop.set()
            thread.join(30)
    finally:
        stop.set()
        http_server.shutdown()
        http_server.server_close()
        proxy.stop()
