"""The IoT-gateway path: a real data lake on loopback, the worker, the real service."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from tests.support.waiting import wait_until

from inferwatch.ingest import HttpDataSource, IngestionWorker, SourceMetrics
from inferwatch.ingest.datalake import Faults, create_datalake
from inferwatch.lifecycle.examples import load_example_frame


@pytest.fixture
def datalake() -> Iterator[str]:
    import uvicorn

    features, labels = load_example_frame("iris")
    app = create_datalake(features, labels, seed=1, faults=Faults())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        threading.Event().wait(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


LAST_SUCCESS = "inferwatch_source_last_success_timestamp_seconds"


def requests(registry: CollectorRegistry, status_code: str) -> float:
    return sample(
        registry, "inferwatch_source_requests_total", source="datalake", status_code=status_code
    )


async def ingest(lake: str, service_url: str, polls: int, registry: CollectorRegistry) -> Any:
    metrics = SourceMetrics(registry)
    async with httpx.AsyncClient(timeout=10) as client:
        source = HttpDataSource(f"{lake}/records", metrics=metrics, client=client)
        worker = IngestionWorker(source, client, service_url=service_url, batch_size=50)
        for _ in range(polls):
            await worker.poll_once()
        return worker


def test_worker_scores_lake_records_and_sends_their_labels(datalake: str, service: Any) -> None:
    running = service()
    registry = CollectorRegistry()
    worker = asyncio.run(ingest(datalake, running.url, 3, registry))

    assert worker.stats.scored == 150
    assert worker.stats.labels == 150
    # the monitor counts committed rows shortly after they were answered
    snapshot = wait_until(
        lambda: (
            (s := running.client.get("/api/snapshot").json())["window_rows"] == 150
            and s["performance"]["labels"] == 150
            and s
        ),
        what="the monitor counted the lake's rows and labels",
    )
    assert snapshot["performance"]["labels"] == 150
    # the example model is good on its own data: the labels confirm it
    assert snapshot["performance"]["accuracy"] > 0.9
    assert requests(registry, "200") == 3
    assert sample(registry, LAST_SUCCESS, source="datalake") > 0


def test_lake_outage_is_measured_and_loses_no_rows(
    datalake: str, service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    running = service()
    registry = CollectorRegistry()
    httpx.put(f"{datalake}/faults", json={"error_rate": 1.0}).raise_for_status()
    with caplog.at_level(logging.WARNING, logger="inferwatch.ingest.worker"):
        worker = asyncio.run(ingest(datalake, running.url, 5, registry))
    assert worker.stats.failed_pulls == 5
    # the outage is logged once, not at every poll (each try still counts in the metrics)
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["pull failed"]
    assert worker.cursor is None
    assert requests(registry, "503") == 5

    httpx.put(f"{datalake}/faults", json={"error_rate": 0.0}).raise_for_status()

    async def resume() -> Any:
        async with httpx.AsyncClient(timeout=10) as client:
            worker.source = HttpDataSource(
                f"{datalake}/records", metrics=SourceMetrics(CollectorRegistry()), client=client
            )
            worker.client = client
            await worker.poll_once()
        return worker

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="inferwatch.ingest.worker"):
        asyncio.run(resume())
    # the first page is scored after the outage, from the cursor it had stopped at
    assert worker.stats.scored == 50
    assert worker.cursor == "50"
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and messages[0].startswith("pull works again after 5 failed tries")


def test_lake_rejects_bad_fault_settings_naming_the_field(datalake: str) -> None:
    response = httpx.put(f"{datalake}/faults", json={"error_rate": 2})
    assert response.status_code == 422
    assert "error_rate" in response.text
