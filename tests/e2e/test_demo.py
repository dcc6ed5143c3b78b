"""``inferwatch demo --fast`` end to end, run as the README runs it: real service, Prometheus
and Alertmanager; the drift, accuracy and data-lake alerts fire, resolve and reach the
service's ``/api/alerts``; SIGINT or SIGTERM stops every child process."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from tests.support.waiting import free_port

from inferwatch.local.demo import DRIFT_ALERTS, DRIFT_FEATURES

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


def stop_tree(proc: subprocess.Popen[bytes], children: list[psutil.Process]) -> None:
    """Kill the demo and every process it started, however the test ended: a failed
    assertion before the clean stop must not leave its Prometheus and Alertmanager running
    (they would hold their ports and files for the rest of the session)."""
    if proc.poll() is None:
        with contextlib.suppress(psutil.NoSuchProcess):
            children = children + psutil.Process(proc.pid).children(recursive=True)
        proc.kill()
        proc.wait(10)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(children, timeout=10)


REPO = Path(__file__).resolve().parents[2]
INFERWATCH = Path(sys.executable).with_name("inferwatch")
STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (FIRING |RESOLVED) (\w+) ", re.M)
URL_LINE = re.compile(r"^  (\w[\w ]*?) +(http://\S+)$", re.M)


def readme_checkout(tmp_path: Path) -> Path:
    """A copy of the checkout, without virtualenvs and state, to run the demo from."""
    ignore = shutil.ignore_patterns(".git", ".venv*", ".inferwatch", "*cache*", "node_modules")
    return Path(shutil.copytree(REPO, tmp_path / "checkout", ignore=ignore))


def start_demo(cwd: Path, *args: str) -> tuple[subprocess.Popen[bytes], Path, int]:
    """``inferwatch demo --fast`` as the README runs it (the console script, the working
    directory a checkout, the default relative data dir ``.inferwatch``), on free ports:
    the process, its log file and the service port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERWATCH_")}
    env["TERM"] = "dumb"
    port = free_port()
    cmd = [str(INFERWATCH), "demo", "--fast", "--port", str(port)]
    cmd += ["--prometheus-port", str(free_port()), "--alertmanager-port", str(free_port())]
    log = cwd / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, *args], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd
        )
    return proc, log, port


def received(url: str) -> set[tuple[str, str]]:
    """``(alertname, status)`` of every notification the service got from Alertmanager."""
    try:
        body = httpx.get(f"{url}/api/alerts", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return set()
    return {(r["alertname"], r["status"]) for r in body["received"]}


LAKE_ALERTS = ("DataLakeUnavailable",)
CHECKED = ("FeatureDriftDetected", "ModelAccuracyLow", "DataLakeUnavailable")


def test_demo_the_readme_way_fires_and_resolves_its_alerts_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    cwd = readme_checkout(tmp_path)
    proc, log, port = start_demo(cwd)
    url = f"http://127.0.0.1:{port}"
    events_path = cwd / ".inferwatch" / "demo-events.jsonl"
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        done = {(name, status) for name in CHECKED for status in ("firing", "resolved")}
        printed_checked = False
        while time.monotonic() < deadline and proc.poll() is None:
            output = log.read_text(errors="replace")
            if not printed_checked and "Ctrl-C stops everything" in output:
                # every URL the demo printed answers (no Prometheus web UI on Debian)
                for what, link in URL_LINE.findall(output):
                    answer = httpx.get(link.split("#")[0], timeout=5, follow_redirects=True)
                    assert answer.is_success, (what, link, answer.status_code)
                printed_checked = True
            if done <= received(url):
                break
            time.sleep(1.0)
        output = log.read_text(errors="replace")
        assert proc.poll() is None, f"the demo exited early:\n{output}"
        assert printed_checked, output
        assert done <= received(url), (received(url), output)
        events = read_events(events_path)
        assert fired_then_resolved(events, DRIFT_ALERTS), output
        assert fired_then_resolved(events, ("ModelAccuracyLow",)), output
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
        # plain timestamped lines in the log, as the alerts fire and resolve
        lines = set(STAMPED.findall(output))
        for name in CHECKED:
            assert {("FIRING ", name), ("RESOLVED", name)} <= lines, output

        children = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "prometheus" in names and "alertmanager" in names
        assert str(cwd / ".inferwatch" / "stack") in names
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) in (0, 130)
        _, alive = psutil.wait_procs(children, timeout=30)
        assert alive == [], f"children still running after SIGINT: {alive}"
        output = log.read_text(errors="replace")
        assert "stopped" in output
        # a clean stop: no request cut off mid-flight, no traceback for the user to puzzle over
        assert "Traceback" not in output, output
    finally:
        stop_tree(proc, children)


def test_demo_stops_every_child_on_sigterm(tmp_path: Path) -> None:
    proc, log, _ = start_demo(tmp_path, "--data-dir", str(tmp_path / "demo"))
    data_dir = tmp_path / "demo"
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
        stop_tree(proc, children)
