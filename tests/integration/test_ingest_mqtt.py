"""MQTT readings through a real Mosquitto broker into the real service: exactly once, labels
from a second topic joined by the readings' ids, a broker restart mid-run loses nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry
from tests.support.lake import readings
from tests.support.mosquitto import Broker

from inferwatch.ingest.metrics import SourceMetrics
from inferwatch.ingest.mqtt import MqttSource, MqttTarget
from inferwatch.ingest.service import ServiceSink
from inferwatch.ingest.stream import StreamWorker

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "mosquitto")
    b.start()
    yield b
    b.stop()


def publish(broker: Broker, messages: list[tuple[str, dict[str, Any]]]) -> None:
    """Publish with QoS 1 and wait until the broker has every message."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-device")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        infos = [client.publish(t, json.dumps(body), qos=1) for t, body in messages]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, {"source": "mqtt", **labels}) or 0.0


def test_mqtt_readings_scored_once_labels_join_and_a_broker_restart_loses_nothing(
    broker: Broker, service: Any
) -> None:
    running = service()
    rows = readings(60).to_pylist()
    registry = CollectorRegistry()

    def snapshot() -> dict[str, Any]:
        return running.client.get("/api/snapshot").json()  # type: ignore[no-any-return]  # JSON

    async def scenario() -> tuple[StreamWorker, dict[str, Any]]:
        source = MqttSource(
            MqttTarget.parse(f"{broker.url}/plant/+/readings"),
            SourceMetrics(registry),
            client_id="inferwatch-test",
            labels_topic="plant/labels",
            id_field="reading_id",
            batch_size=10,
            linger=0.05,
        )
        async with httpx.AsyncClient(timeout=30) as client:
            worker = StreamWorker(
                source, ServiceSink(client, running.url), source.metrics, wait_seconds=0.2
            )
            stop = asyncio.Event()
            task = asyncio.create_task(worker.run(stop=stop))

            async def until(what: str, check: Any, timeout: float = 30.0) -> None:
                for _ in range(int(timeout / 0.1)):
                    if await asyncio.to_thread(check):
                        return
                    await asyncio.sleep(0.1)
                raise AssertionError(f"{what}: not within {timeout}s")

            await until(
                "connected",
                lambda: (
                    sample(registry, "inferwatch_source_requests_total", status_code="200") >= 1
                ),
            )
            features = [{k: v for k, v in r.items() if k != "label"} for r in rows]
            first = [("plant/dev1/readings", r) for r in features[:40]]
            await asyncio.to_thread(publish, broker, first)
            # the broker goes away while readings are being scored
            await asyncio.to_thread(broker.restart)
            rest = [("plant/dev2/readings", r) for r in features[40:]]
            labels = [
                ("plant/labels", {"reading_id": r["reading_id"], "label": r["label"]}) for r in rows
            ]
            await until(
                "reconnected",
                lambda: (
                    sample(registry, "inferwatch_source_requests_total", status_code="200") >= 2
                ),
            )
            await asyncio.to_thread(publish, broker, rest + labels)
            await until(
                "60 rows and 60 labels",
                lambda: (s := snapshot())["window_rows"] >= 60 and s["performance"]["labels"] >= 60,
            )
            await asyncio.sleep(1.0)  # anything redelivered would be scored by now
            stop.set()
            await asyncio.wait_for(task, 15)
            return worker, snapshot()

    worker, snap = asyncio.run(scenario())
    assert snap["window_rows"] == 60  # each reading scored exactly once
    assert snap["performance"]["labels"] == 60
    assert snap["performance"]["accuracy"] > 0.9
    assert sample(registry, "inferwatch_source_errors_total", kind="unavailable") >= 1
    assert sample(registry, "inferwatch_source_records_total") == worker.stats.stored
    assert sample(registry, "inferwatch_source_lag_seconds") == 0
