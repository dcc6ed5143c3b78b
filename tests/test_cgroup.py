"""Container figures from a cgroup v2 directory: a fake one written the way the kernel
writes it, read by the reader and exported by the system collector."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from inferwatch.cgroup import own_cgroup_path, read_cgroup
from inferwatch.system import SystemCollector


def write_cgroup(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name.replace("_", ".", 1)).write_text(text)
    return directory


def pod(root: Path, *, usage_usec: int = 0) -> Path:
    """A container limited to 1.5 cores and 512 MiB, using 300 MiB of which 100 are cache."""
    return write_cgroup(
        root,
        cpu_max="150000 100000\n",
        cpu_stat=f"usage_usec {usage_usec}\nuser_usec {usage_usec}\nsystem_usec 0\n",
        memory_current=f"{300 * 2**20}\n",
        memory_stat=f"anon {200 * 2**20}\nfile {100 * 2**20}\ninactive_file {100 * 2**20}\n",
        memory_max=f"{512 * 2**20}\n",
    )


def scrape(collector: SystemCollector) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def test_reader_gives_the_limits_and_the_working_set(tmp_path: Path) -> None:
    figures = read_cgroup(pod(tmp_path, usage_usec=2_500_000), "/")
    assert figures.cpu_usage_seconds == 2.5
    assert figures.cpu_limit_cores == 1.5
    assert figures.memory_working_set_bytes == 200 * 2**20
    assert figures.memory_limit_bytes == 512 * 2**20


def test_reader_follows_the_process_cgroup_path(tmp_path: Path) -> None:
    pod(tmp_path / "kubepods.slice" / "pod1", usage_usec=1_000_000)
    proc = tmp_path / "self_cgroup"
    proc.write_text("0::/kubepods.slice/pod1\n")
    path = own_cgroup_path(proc)
    assert path == "/kubepods.slice/pod1"
    assert read_cgroup(tmp_path, path).cpu_usage_seconds == 1.0


def test_unlimited_and_missing_files_are_left_out(tmp_path: Path) -> None:
    write_cgroup(tmp_path, cpu_max="max 100000\n", memory_max="max\n", memory_current="oops\n")
    figures = read_cgroup(tmp_path, "/")
    assert figures.cpu_limit_cores is None and figures.memory_limit_bytes is None
    assert figures.cpu_usage_seconds is None  # no cpu.stat
    assert figures.memory_working_set_bytes is None  # not a number


def test_collector_reports_the_container_not_the_host(tmp_path: Path) -> None:
    """0.6 s of CPU in 1 s on a 1.5-core quota: 40%, whatever the node is doing."""
    now = [100.0]
    collector = SystemCollector(
        ".", cgroup_root=pod(tmp_path), cgroup_path="/", clock=lambda: now[0]
    )
    now[0] += 1.0
    pod(tmp_path, usage_usec=600_000)
    values = scrape(collector)
    assert values["inferwatch_container_cpu_usage_ratio"] == pytest.approx(0.4)
    assert values["inferwatch_container_cpu_limit_cores"] == 1.5
    assert values["inferwatch_container_memory_working_set_bytes"] == 200 * 2**20
    assert values["inferwatch_container_memory_usage_ratio"] == pytest.approx(200 / 512)
    assert 0.0 <= values["inferwatch_system_cpu_usage_ratio"] <= 1.0  # the host stays apart


def test_collector_without_a_cgroup_exports_host_figures_only(tmp_path: Path) -> None:
    values = scrape(SystemCollector(".", cgroup_root=tmp_path / "none", cgroup_path="/"))
    assert "inferwatch_system_cpu_usage_ratio" in values
    assert not [name for name in values if name.startswith("inferwatch_container_")]
