"""Host figures via psutil, exported at scrape time.

``psutil.cpu_percent(interval=None)`` does not block: it reports the CPU use since the
previous call (the first call primes it and reads 0).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import psutil
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class SystemCollector(Collector):
    """``inferwatch_system_{cpu,memory,disk}_usage_ratio`` for the host (disk of ``path``)."""

    def __init__(self, path: Path | str = ".") -> None:
        self.path = str(path)
        psutil.cpu_percent(interval=None)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "inferwatch_system_cpu_usage_ratio",
            "Host CPU use since the previous scrape, 0-1.",
            value=psutil.cpu_percent(interval=None) / 100.0,
        )
        yield GaugeMetricFamily(
            "inferwatch_system_memory_usage_ratio",
            "Host memory in use, 0-1.",
            value=psutil.virtual_memory().percent / 100.0,
        )
        try:
            disk = psutil.disk_usage(self.path).percent / 100.0
        except OSError:
            disk = float("nan")
        yield GaugeMetricFamily(
            "inferwatch_system_disk_usage_ratio",
            "Use of the disk that holds the data directory, 0-1.",
            value=disk,
        )


__all__ = ["SystemCollector"]
