"""Host and container figures, exported at scrape time.

Host: ``psutil.cpu_percent(interval=None)`` does not block: it reports the CPU use since the
previous call (the first call primes it and reads 0). Container: the process's cgroup v2
(``inferwatch.cgroup``), so in a pod the figures are the container's, not the node's; each
is left out where the kernel gives nothing (cgroup v1, another OS).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from inferwatch.cgroup import DEFAULT_ROOT, CgroupFigures, available_cores, read_cgroup


class SystemCollector(Collector):
    """``inferwatch_system_{cpu,memory,disk}_usage_ratio`` for the host (disk of ``path``) and
    ``inferwatch_container_*`` for the cgroup of the process under ``cgroup_root``."""

    def __init__(
        self,
        path: Path | str = ".",
        *,
        cgroup_root: Path = DEFAULT_ROOT,
        cgroup_path: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = str(path)
        self.cgroup_root = cgroup_root
        self.cgroup_path = cgroup_path
        self.clock = clock
        self._lock = threading.Lock()
        psutil.cpu_percent(interval=None)
        self._last_cpu = (read_cgroup(cgroup_root, cgroup_path).cpu_usage_seconds, clock())

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
        yield from self._container(read_cgroup(self.cgroup_root, self.cgroup_path))

    def _cpu_ratio(self, figures: CgroupFigures) -> float | None:
        """CPU the cgroup used since the previous scrape over what it may use."""
        now = self.clock()
        with self._lock:
            last_usage, last_time = self._last_cpu
            self._last_cpu = (figures.cpu_usage_seconds, now)
        if figures.cpu_usage_seconds is None or last_usage is None or now <= last_time:
            return None
        cores = figures.cpu_limit_cores or available_cores()
        used = max(figures.cpu_usage_seconds - last_usage, 0.0)
        return used / ((now - last_time) * cores)

    def _container(self, figures: CgroupFigures) -> Iterable[GaugeMetricFamily]:
        ratio = self._cpu_ratio(figures)
        memory = figures.memory_working_set_bytes
        memory_limit = figures.memory_limit_bytes
        for name, doc, value in (
            (
                "inferwatch_container_cpu_usage_ratio",
                "CPU used by this process's cgroup since the previous scrape over what it may "
                "use (its cpu.max quota, else the CPUs it may run on), 0-1.",
                ratio,
            ),
            (
                "inferwatch_container_cpu_limit_cores",
                "CPU quota of this process's cgroup in cores (absent when unlimited).",
                figures.cpu_limit_cores,
            ),
            (
                "inferwatch_container_memory_working_set_bytes",
                "Memory of this process's cgroup the kernel cannot reclaim "
                "(memory.current - inactive_file).",
                memory,
            ),
            (
                "inferwatch_container_memory_limit_bytes",
                "memory.max of this process's cgroup (absent when unlimited).",
                memory_limit,
            ),
            (
                "inferwatch_container_memory_usage_ratio",
                "Working set over memory.max, 0-1 (absent when unlimited).",
                memory / memory_limit if memory is not None and memory_limit else None,
            ),
        ):
            if value is not None:
                yield GaugeMetricFamily(name, doc, value=value)


__all__ = ["SystemCollector"]
