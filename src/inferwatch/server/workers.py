"""``inferwatch serve --workers N``: N processes behind one port, one ``/metrics`` for all.

Each worker is a whole service (its own monitor, writer thread and store connection; the
store is what they share, so use PostgreSQL or one SQLite file). A scrape reaches one
worker, which answers for all of them:

- counters and histograms of ``prometheus_client`` objects (HTTP requests, inference rows,
  errors, durations) run in its multiprocess mode: every worker writes its values to files
  in ``PROMETHEUS_MULTIPROC_DIR`` and the answering worker adds them up, exactly;
- the monitor's own families (``MonitorCollector`` and the other custom collectors) are
  written by each worker to ``custom_<pid>.json`` in the same directory every second and on
  each scrape; counters and histograms are summed over the workers (those of a worker that
  exited are kept, as prometheus_client does), per-process gauges (window figures, process
  figures) get a ``pid`` label and only live workers are shown.

``serve`` makes a fresh directory when ``PROMETHEUS_MULTIPROC_DIR`` is not set, and clears
the one given otherwise (its files describe the previous run).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from inferwatch.settings import Settings

ENV = "PROMETHEUS_MULTIPROC_DIR"
_SUMMED = {"counter", "histogram"}


def prepare_directory() -> Path:
    """The multiprocess directory for this run, empty, and exported in ``ENV``."""
    given = os.environ.get(ENV)
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix="inferwatch-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for old in [*path.glob("*.db"), *path.glob("custom_*.json")]:
        old.unlink()
    os.environ[ENV] = str(path)
    return path


def export_settings(settings: Settings) -> None:
    """Put the settings chosen on the command line into the environment the workers read."""
    for name in settings.model_fields_set:
        value = getattr(settings, name)
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        elif isinstance(value, list | dict):
            value = orjson.dumps(value).decode()
        os.environ[f"INFERWATCH_{name.upper()}"] = str(value)


def app_from_env() -> Any:
    """The app of one worker (uvicorn calls this in each worker process)."""
    from inferwatch.server.app import create_app
    from inferwatch.server.deps import app_service

    app = create_app(Settings())
    directory = os.environ.get(ENV)
    if directory:
        metrics = WorkerMetrics(app_service(app).registry, Path(directory))
        metrics.start()
        app.state.worker_metrics = metrics
    return app


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkerMetrics:
    """This worker's share of ``/metrics`` and the sum over all workers."""

    def __init__(self, registry: CollectorRegistry, directory: Path, every: float = 1.0) -> None:
        self.registry = registry
        self.directory = directory
        self.every = every
        self.pid = os.getpid()
        self._stop = threading.Event()

    def _custom(self) -> list[Collector]:
        # The registry keeps no public list of its collectors; prometheus_client objects
        # (counters, histograms, gauges) are read from the multiprocess files instead.
        collectors = list(self.registry._collector_to_names)
        return [c for c in collectors if not isinstance(c, MetricWrapperBase)]

    def dump(self) -> None:
        families = []
        for collector in self._custom():
            for metric in collector.collect():
                samples = [
                    (s.name, s.labels, s.value)
                    for s in metric.samples
                    if not s.name.endswith("_created")
                ]
                families.append((metric.name, metric.documentation, metric.type, samples))
        target = self.directory / f"custom_{self.pid}.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(families))
        tmp.replace(target)

    def start(self) -> None:
        threading.Thread(target=self._loop, name="inferwatch-worker-metrics", daemon=True).start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            with contextlib.suppress(Exception):  # a failed dump is retried next second
                self.dump()

    def _merged(self) -> Iterator[Metric]:
        merged: dict[str, tuple[Metric, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = {}
        for path in sorted(self.directory.glob("custom_*.json")):
            pid = int(path.stem.split("_", 1)[1])
            alive = pid == self.pid or _pid_alive(pid)
            try:
                families = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue
            for name, doc, typ, samples in families:
                summed = typ in _SUMMED
                if not summed and not alive:
                    continue
                metric, values = merged.setdefault(name, (Metric(name, doc, typ), {}))
                for sample, labels, value in samples:
                    if not summed:
                        labels = {**labels, "pid": str(pid)}
                    key = (sample, tuple(sorted(labels.items())))
                    values[key] = values.get(key, 0.0) + value if summed else value
        for metric, values in merged.values():
            for (sample, labels), value in values.items():
                metric.add_sample(sample, dict(labels), value)
            yield metric

    def render(self) -> bytes:
        """One exposition for all workers."""
        self.dump()
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.directory))  # type: ignore[no-untyped-call]  # untyped in prometheus_client
        merged = CollectorRegistry()
        merged.register(_Fixed(list(self._merged())))
        return generate_latest(registry) + generate_latest(merged)


class _Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics


__all__ = ["ENV", "WorkerMetrics", "app_from_env", "export_settings", "prepare_directory"]
