"""``MqttSource``: JSON readings from MQTT topics, acknowledged only once stored.

``mqtt://host:1883/plant/+/readings`` (``mqtts://`` for TLS, port 8883 by default). The
client subscribes with QoS 1, keeps a persistent session (``clean_session=False`` and a
fixed client id) and acknowledges by hand (paho's ``manual_ack``): a message's PUBACK goes
out only after its row was scored and stored. A message read but not acknowledged when the
connection drops is sent again by the broker after the reconnect, so a broker outage or a
crash loses nothing; with an id in each reading the service refuses the copy (409) and the
row is stored once.

A message is one reading (a JSON object) or a list of them. Messages on ``labels_topic``
carry ``{"<id_field>": ..., "<label_field>": ...}`` and join earlier readings by id.
Reconnects back off from 1 s to 30 s. Each connection attempt is a request in the source
metrics (``200``, or ``connect_error`` / ``503`` / ``401``); a dropped connection counts an
``unavailable`` error, like a lake outage. Latency is a message's arrival to its
acknowledgement; lag is the age of the oldest message not yet acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from inferwatch.ingest.delivery import Delivery, split_record
from inferwatch.ingest.metrics import SourceMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MqttTarget:
    """Where to connect and what to subscribe to, from an ``mqtt://`` or ``mqtts://`` URL."""

    host: str
    port: int
    topic: str
    tls: bool
    username: str | None

    @classmethod
    def parse(cls, url: str) -> MqttTarget:
        """
        >>> MqttTarget.parse("mqtt://broker:1884/plant/+/readings")
        MqttTarget(host='broker', port=1884, topic='plant/+/readings', tls=False, username=None)
        >>> MqttTarget.parse("mqtts://gw@broker/a/#").port
        8883
        """
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"not an MQTT URL: {parts.scheme}://")
        topic = unquote(parts.path.lstrip("/"))
        if not topic or not parts.hostname:
            raise ValueError("an MQTT source needs a host and a topic: mqtt://host:1883/topic/#")
        tls = parts.scheme == "mqtts"
        port = parts.port or (8883 if tls else 1883)
        user = unquote(parts.username) if parts.username else None
        return cls(parts.hostname, port, topic, tls, user)

    def public(self) -> str:
        """The URL without credentials, for logs."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}/{self.topic}"


@dataclass(frozen=True)
class _Message:
    generation: int
    mid: int
    topic: str
    payload: bytes
    received: float
    arrived: float  # perf_counter, for the latency


class MqttSource:
    """Readings from ``target.topic`` (and labels from ``labels_topic``) as deliveries."""

    def __init__(
        self,
        target: MqttTarget,
        metrics: SourceMetrics,
        *,
        name: str = "mqtt",
        client_id: str = "inferwatch-ingest",
        labels_topic: str | None = None,
        id_field: str | None = "id",
        label_field: str | None = "label",
        batch_size: int = 500,
        linger: float = 0.2,
        password: str | None = None,
        ca_file: Path | None = None,
        keepalive: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.target = target
        self.metrics = metrics
        self.name = name
        self.client_id = client_id
        self.labels_topic = labels_topic
        self.id_field = id_field
        self.label_field = label_field
        self.batch_size = batch_size
        self.linger = linger
        self.password = password
        self.ca_file = ca_file
        self.keepalive = keepalive
        self.clock = clock
        self._generation = 0
        self._lock = threading.Lock()
        self._unacked: dict[tuple[int, int], float] = {}
        self._queue: asyncio.Queue[_Message] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        metrics.prepare(name)

    async def start(self) -> None:
        import paho.mqtt.client as mqtt

        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        if self.target.username is not None:
            client.username_pw_set(self.target.username, self.password)
        if self.target.tls:
            client.tls_set(
                ca_certs=str(self.ca_file) if self.ca_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        self._attempt = time.perf_counter()
        client.connect_async(self.target.host, self.target.port, keepalive=self.keepalive)
        client.loop_start()
        log.info("%s: connecting to %s", self.name, self.target.public())

    async def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    # paho's network thread ------------------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        seconds = time.perf_counter() - self._attempt
        if reason.is_failure:
            status = (
                "401" if "authori" in str(reason).lower() or "password" in str(reason) else "503"
            )
            self.metrics.record(self.name, status, seconds, self.clock())
            log.warning("%s: broker refused the connection: %s", self.name, reason)
            return
        with self._lock:
            self._generation += 1
            self._unacked.clear()  # the broker sends every unacknowledged message again
        self.metrics.record(self.name, "200", seconds, self.clock())
        topics = [(self.target.topic, 1)]
        if self.labels_topic:
            topics.append((self.labels_topic, 1))
        client.subscribe(topics)

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self.metrics.record(
            self.name, "connect_error", time.perf_counter() - self._attempt, self.clock()
        )
        self._attempt = time.perf_counter()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._attempt = time.perf_counter()
        if reason.is_failure:
            self.metrics.error(self.name, "unavailable")
            log.warning("%s: connection lost: %s", self.name, reason)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            generation = self._generation
            now = self.clock()
            self._unacked.setdefault((generation, message.mid), now)
        item = _Message(
            generation, message.mid, message.topic, bytes(message.payload), now, time.perf_counter()
        )
        assert self._loop is not None and self._queue is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    # the worker's side ----------------------------------------------------------------

    def lag(self, now: float) -> float:
        with self._lock:
            return max(0.0, now - min(self._unacked.values())) if self._unacked else 0.0

    async def next(self, wait: float) -> Delivery | None:
        assert self._queue is not None
        try:
            first = await asyncio.wait_for(self._queue.get(), wait)
        except asyncio.TimeoutError:
            return None
        messages = [first]
        deadline = time.monotonic() + self.linger
        while len(messages) < self.batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                messages.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        live = [m for m in messages if m.generation == self._generation]
        if not live:
            return None  # read on a connection since lost: the broker sends them again
        return self._delivery(live)

    def _delivery(self, messages: list[_Message]) -> Delivery:
        records: list[dict[str, Any]] = []
        ids: list[str | None] = []
        labels: list[Any] = []
        late: list[tuple[str, Any]] = []
        for message in messages:
            for reading in self._readings(message):
                row, rid, label = split_record(reading, self.id_field, self.label_field)
                if self._is_label(message.topic):
                    if rid is not None and label is not None:
                        late.append((rid, label))
                    else:
                        self.metrics.error(self.name, "unreadable")
                    continue
                records.append(row)
                ids.append(rid)
                labels.append(label)
        have_ids = bool(ids) and all(i is not None for i in ids)
        return Delivery(
            records,
            ids=[str(i) for i in ids] if have_ids else None,
            labels=labels if any(y is not None for y in labels) else None,
            late_labels=late,
            oldest=min(m.received for m in messages),
            commit=lambda: self._ack(messages),
        )

    def _is_label(self, topic: str) -> bool:
        import paho.mqtt.client as mqtt

        return self.labels_topic is not None and mqtt.topic_matches_sub(self.labels_topic, topic)

    def _readings(self, message: _Message) -> list[dict[str, Any]]:
        try:
            body = json.loads(message.payload)
        except ValueError:
            body = None
        items = body if isinstance(body, list) else [body]
        if not all(isinstance(item, dict) for item in items):
            self.metrics.error(self.name, "unreadable")
            log.warning("%s: message on %s is not a JSON object; dropped", self.name, message.topic)
            return []
        return items

    def _ack(self, messages: list[_Message]) -> None:
        client = self._client
        done = time.perf_counter()
        with self._lock:
            generation = self._generation
            for m in messages:
                if m.generation != generation or client is None:
                    continue  # that connection is gone: the broker sends it again
                client.ack(m.mid, 1)
                self._unacked.pop((m.generation, m.mid), None)
                self.metrics.duration.labels(self.name).observe(done - m.arrived)
        self.metrics.last_success.labels(self.name).set(self.clock())


__all__ = ["MqttSource", "MqttTarget"]
