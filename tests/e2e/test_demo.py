"""``inferwatch demo --fast`` end to end: real service, Prometheus and Alertmanager; a drift
alert and an accuracy alert each fire and resolve; SIGINT stops every child process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from tests.support.waiting import free_port

from inferwatch.demo import ACCURACY_ALERTS, DRIFT_ALERTS, DRIFT_FEATURES

pytestmark = pytest.mark.e2e

# The demo's own --fast timeline lasts 190 s; both alerts resolve a little before its end.
DEADLINE_SECONDS = 240.0


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fired_then_resolved(events: list[dict[str, Any]], names: tuple[str, ...]) -> bool:
    fired = [e["t"] for e in events if e.get("alert") in names and e["state"] == "firing"]
    resolved = [e["t"] for e in events if e.get("alert") in names and e["state"] == "resolved"]
    return bool(fired) and any(r > min(fired) for r in resolved)


def start_demo(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """``inferwatch demo --fast`` on free ports and a fresh data directory:
    the process, its data directory and its log file."""
    data_dir = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERWATCH_")}
    env |= {
        "INFERWATCH_PROMETHEUS_PORT": str(free_port()),
        "INFERWATCH_ALERTMANAGER_PORT": str(free_port()),
        "TERM": "dumb",
    }
    cmd = [sys.executable, "-m", "inferwatch.cli", "demo", "--fast"]
    cmd += ["--port", str(free_port()), "--data-dir", str(data_dir)]
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    return proc, data_dir, log


LAKE_ALERTS = ("DataLakeUnavailable",)


def test_demo_fast_fires_and_resolves_its_alerts_and_stops_cleanly(tmp_path: Path) -> None:
    proc, data_dir, log = start_demo(tmp_path)
    events_path = data_dir / "demo-events.jsonl"
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline and proc.poll() is None:
            events = read_events(events_path)
            if all(
                fired_then_resolved(events, names)
                for names in (DRIFT_ALERTS, ACCURACY_ALERTS, LAKE_ALERTS)
            ):
                break
            time.sleep(1.0)
        output = log.read_text(errors="replace")
        assert proc.poll() is None, f"the demo exited early:\n{output}"
        events = read_events(events_path)
        assert fired_then_resolved(events, DRIFT_ALERTS), output
        assert fired_then_resolved(events, ACCURACY_ALERTS), output
        # the data lake's outage reaches Prometheus through the ingestion worker's metrics
        assert fired_then_resolved(events, LAKE_ALERTS), output
        # the drift alert names the drifted features only, and the accuracy drop (concept
        # drift: inputs unchanged) raises no drift alert
        drift = [e for e in events if e.get("alert") in DRIFT_ALERTS]
        assert {e["labels"]["feature"] for e in drift} <= set(DRIFT_FEATURES)
        phases = [e for e in events if e["kind"] == "phase"]
        i = next(i for i, e in enumerate(phases) if e["phase"] == "accuracy_drop")
        start, end = phases[i]["t"], phases[i + 1]["t"]
        assert not [e for e in drift if start <= e["t"] <= end and e["state"] != "resolved"]
        assert "ALERT FIRING   FeatureDriftDetected" in output
        assert "ALERT RESOLVED ModelAccuracy" in output

        children = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "prometheus" in names and "alertmanager" in names
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) in (0, 130)
        _, alive = psutil.wait_procs(children, timeout=30)
        assert alive == [], f"children still running after SIGINT: {alive}"
        assert "stopped" in log.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for child in children:
            if child.is_running():
                child.kill()


def test_demo_stops_every_child_on_sigterm(tmp_path: Path) -> None:
    proc, data_dir, log = start_demo(tmp_path)
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90.0
        while time.monotonic() < deadline and proc.poll() is None:
            if any(e["kind"] == "phase" for e in read_events(data_dir / "demo-events.jsonl")):
                break
            time.sleep(0.5)
        assert proc.poll() is None, log.read_text(errors="replace")
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(children, timeout=30)
        assert alive == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for child in children:
            if child.is_running():
                child.kill()
