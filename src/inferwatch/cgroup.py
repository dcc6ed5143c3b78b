"""CPU and memory of the process's cgroup (cgroup v2): what a container may use and uses.

In a pod or a container ``psutil`` sees the node; the kernel accounts the container in its
cgroup. ``read_cgroup(root)`` reads, under ``root`` (``/sys/fs/cgroup``) and the process's
own cgroup path (``/proc/self/cgroup``, ``0::/...``; ``/`` inside a container's cgroup
namespace), the files the kernel keeps there:

- ``cpu.max``: ``"<quota> <period>"`` in microseconds, or ``"max <period>"`` for no limit;
- ``cpu.stat``: ``usage_usec``, the cgroup's CPU time so far;
- ``memory.current`` and ``memory.stat`` (``inactive_file``): the working set is
  ``memory.current - inactive_file``, the figure the OOM killer and the kubelet act on;
- ``memory.max``: the limit in bytes, or ``"max"``.

A file that is missing or unreadable leaves its figure out (cgroup v1, another OS, a
controller not enabled): no figure is ever guessed.

>>> parse_cpu_max("150000 100000")
1.5
>>> parse_cpu_max("max 100000") is None
True
>>> parse_flat_keyed("usage_usec 2500\\nuser_usec 2000\\n")["usage_usec"]
2500
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")


@dataclass(frozen=True)
class CgroupFigures:
    """One reading of a cgroup v2 directory; ``None`` where the kernel gave nothing."""

    cpu_usage_seconds: float | None
    cpu_limit_cores: float | None
    memory_working_set_bytes: float | None
    memory_limit_bytes: float | None


def parse_cpu_max(text: str) -> float | None:
    """Cores allowed by ``cpu.max`` (quota / period), ``None`` when unlimited."""
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    quota, period = float(parts[0]), float(parts[1])
    return quota / period if period > 0 else None


def parse_memory_max(text: str) -> float | None:
    """Bytes allowed by ``memory.max``, ``None`` when unlimited."""
    value = text.strip()
    return None if value == "max" else float(value)


def parse_flat_keyed(text: str) -> dict[str, int]:
    """A flat-keyed cgroup file (``cpu.stat``, ``memory.stat``): ``key value`` per line."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def own_cgroup_path(self_cgroup: Path = SELF_CGROUP) -> str:
    """The process's cgroup v2 path (the ``0::`` line), ``/`` when there is none."""
    try:
        lines = self_cgroup.read_text(encoding="utf-8").splitlines()
    except OSError:
        return "/"
    for line in lines:
        if line.startswith("0::"):
            return line[3:] or "/"
    return "/"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _parsed(path: Path, parse: Callable[[str], float | None]) -> float | None:
    text = _read(path)
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError:  # not in the kernel's format: leave the figure out
        return None


def _working_set(directory: Path) -> float | None:
    current = _parsed(directory / "memory.current", float)
    if current is None:
        return None
    stat = parse_flat_keyed(_read(directory / "memory.stat") or "")
    return max(current - stat.get("inactive_file", 0), 0.0)


def _cpu_seconds(text: str) -> float | None:
    usec = parse_flat_keyed(text).get("usage_usec")
    return usec / 1e6 if usec is not None else None


def read_cgroup(root: Path = DEFAULT_ROOT, cgroup_path: str | None = None) -> CgroupFigures:
    """The figures of the cgroup ``cgroup_path`` (default: this process's) under ``root``."""
    path = cgroup_path if cgroup_path is not None else own_cgroup_path()
    directory = root / path.lstrip("/")
    return CgroupFigures(
        cpu_usage_seconds=_parsed(directory / "cpu.stat", _cpu_seconds),
        cpu_limit_cores=_parsed(directory / "cpu.max", parse_cpu_max),
        memory_working_set_bytes=_working_set(directory),
        memory_limit_bytes=_parsed(directory / "memory.max", parse_memory_max),
    )


def available_cores() -> float:
    """CPUs this process may run on (its affinity), the ceiling when no quota is set."""
    try:
        return float(len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return float(os.cpu_count() or 1)


__all__ = [
    "DEFAULT_ROOT",
    "CgroupFigures",
    "available_cores",
    "own_cgroup_path",
    "parse_cpu_max",
    "parse_flat_keyed",
    "parse_memory_max",
    "read_cgroup",
]
