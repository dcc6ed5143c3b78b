"""``open_stream_source``: the streaming source a ``--source`` URL names, with its options.

``http(s)://`` is the paged pull (``HttpDataSource``, not a stream); ``mqtt(s)://`` an
``MqttSource``; anything else fsspec can open (``file://``, ``s3://``, ``gs://``, a path) a
``LakeSource``. Object-store credentials come the usual way for that store (for S3: the
``AWS_*`` environment, ``~/.aws``, an instance role) and are never logged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inferwatch.core.schema import FeatureSchema
from inferwatch.ingest.cursor import LakeCursor
from inferwatch.ingest.delivery import Merged, StreamSource
from inferwatch.ingest.lake import LakeSource
from inferwatch.ingest.metrics import SourceMetrics


@dataclass(frozen=True)
class StreamOptions:
    """What a streaming source needs besides its URL (``inferwatch ingest`` options)."""

    batch_size: int = 500
    poll_seconds: float = 5.0
    id_field: str | None = None
    label_field: str | None = "label"
    labels_source: str | None = None
    """A second lake prefix of (id, label) files, or an MQTT topic of label messages."""
    schema: FeatureSchema | None = None
    cursor_dir: Path = Path(".inferwatch/ingest")
    endpoint_url: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    client_id: str = "inferwatch-ingest"


def kind_of(url: str) -> str:
    """``http``, ``mqtt`` or ``lake``.

    >>> [kind_of(u) for u in ("https://lake/records", "mqtts://b/t", "s3://b/p/", "/data")]
    ['http', 'mqtt', 'lake', 'lake']
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else "file"
    if scheme in ("http", "https"):
        return "http"
    if scheme in ("mqtt", "mqtts"):
        return "mqtt"
    return "lake"


def cursor_path(directory: Path, url: str) -> Path:
    """One cursor file per source URL."""
    return directory / f"cursor-{hashlib.sha256(url.encode()).hexdigest()[:16]}.json"


def _lake(
    url: str, name: str, metrics: SourceMetrics, opts: StreamOptions, labels: bool
) -> LakeSource:
    storage: dict[str, Any] = {}
    if opts.endpoint_url and url.startswith(("s3://", "s3a://")):
        storage["client_kwargs"] = {"endpoint_url": opts.endpoint_url}
    return LakeSource(
        url,
        LakeCursor.load(cursor_path(opts.cursor_dir, url), url),
        metrics,
        name=name,
        batch_size=opts.batch_size,
        id_field=opts.id_field,
        label_field=opts.label_field,
        labels_only=labels,
        schema=opts.schema,
        storage_options=storage,
        poll_seconds=opts.poll_seconds,
    )


def open_stream_source(url: str, metrics: SourceMetrics, opts: StreamOptions) -> StreamSource:
    if kind_of(url) == "mqtt":
        from inferwatch.ingest.mqtt import MqttSource, MqttTarget

        password = None
        if opts.password_file is not None:
            password = opts.password_file.read_text(encoding="utf-8").strip()
        return MqttSource(
            MqttTarget.parse(url),
            metrics,
            client_id=opts.client_id,
            labels_topic=opts.labels_source,
            id_field=opts.id_field,
            label_field=opts.label_field,
            batch_size=opts.batch_size,
            password=password,
            ca_file=opts.ca_file,
        )
    rows = _lake(url, "lake", metrics, opts, labels=False)
    if opts.labels_source is None:
        return rows
    labels = _lake(opts.labels_source, "lake-labels", metrics, opts, labels=True)
    return Merged([rows, labels], name="lake")


__all__ = ["StreamOptions", "cursor_path", "kind_of", "open_stream_source"]
