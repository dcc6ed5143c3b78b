"""``inferwatch replay`` of a table into a running local service, end to end.

Starts ``inferwatch serve`` on the iris example with the default settings (a fresh data
directory), builds a table of N rows (the iris reference rows, resampled) and replays it
with ``inferwatch.replay.replay`` at batches of 500 and the command's default of 4
requests in flight, as fast as the service answers. Reports rows per second from the first
request to the last answer, and checks that the service's window counts every row (nothing
acknowledged is lost) and that the replay reported no failure. Three times: without labels;
with the table's labels at the default delay of 0 (each batch's labels travel with its rows);
and with a label delay (a microsecond), so the labels of answered rows go to ``/feedback``
between the batches, up to 1000 to a request, the way delayed labels go. Each run also
prints the CPU seconds the service and the replaying process used (from /proc).

Goal: at least 50,000 rows/s at batches of 500.

    .venv/bin/python bench/replay_speed.py [--rows 200000] [--batch 500] [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

from inferwatch.lifecycle.examples import load_example_frame
from inferwatch.replay import replay

GOAL = 50_000.0
IN_FLIGHT = 4
"""Requests in flight: the default of ``inferwatch replay --in-flight``."""
TRAIN = [sys.executable, "-m", "inferwatch.cli", "train", "--example", "iris"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _table(rows: int, labels: bool) -> pd.DataFrame:
    frame, target = load_example_frame("iris")
    rng = np.random.default_rng(7)
    pick = rng.integers(0, len(frame), rows)
    table = frame.iloc[pick].reset_index(drop=True)
    if labels:
        table["label"] = np.asarray(target)[pick]
    return table


def _serve(model_dir: Path, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERWATCH_")}
    env["INFERWATCH_LOG_LEVEL"] = "warning"
    cmd = [sys.executable, "-m", "inferwatch.cli", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--model-dir", str(model_dir), "--data-dir", str(data_dir)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the service did not get ready")


def _window_rows(url: str, want: int) -> int:
    deadline = time.monotonic() + 30
    rows = 0
    while time.monotonic() < deadline:
        rows = int(httpx.get(url + "/api/snapshot", timeout=10).json()["window_rows"])
        if rows >= want:
            break
        time.sleep(0.1)
    return rows


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU of process ``pid`` so far (prometheus_client reads /proc)."""
    registry = CollectorRegistry()
    ProcessCollector(pid=lambda: pid, registry=registry)
    return registry.get_sample_value("process_cpu_seconds_total") or 0.0


def one_run(
    model_dir: Path, root: Path, table: pd.DataFrame, batch: int, labels: bool, delay: float
) -> float:
    proc, url = _serve(model_dir, Path(tempfile.mkdtemp(dir=root)))
    try:
        server0, client0 = _cpu_seconds(proc.pid), time.process_time()
        t0 = time.monotonic()
        summary = replay(
            table,
            url=url,
            target="label" if labels else None,
            batch_size=batch,
            in_flight=IN_FLIGHT,
            label_delay=delay,
        )
        seconds = time.monotonic() - t0
        server_cpu = _cpu_seconds(proc.pid) - server0
        client_cpu = time.process_time() - client0
        rate = summary.rows_sent / seconds
        window = _window_rows(url, len(table))
        ok = summary.rows_sent == len(table) and not summary.errors and window == len(table)
        matched = f", labels matched {summary.labels_matched:,}" if labels else ""
        print(
            f"  {summary.rows_sent:,} rows in {seconds:.2f} s: {rate:,.0f} rows/s "
            f"({summary.requests} requests, {summary.errors} failed rows, window {window:,}"
            f"{matched}) {'' if ok else '-> ROWS LOST OR FAILED'}\n"
            f"    CPU: service {server_cpu:.2f} s, replay {client_cpu:.2f} s"
        )
        return rate if ok else 0.0
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    verdicts = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_dir = root / "model"
        subprocess.run([*TRAIN, "--out", str(model_dir)], check=True, stdout=subprocess.DEVNULL)
        modes = (
            ("without labels", False, 0.0),
            ("with labels (no delay: with their rows)", True, 0.0),
            ("with labels (delayed: /feedback, 1000 a request)", True, 1e-6),
        )
        for what, labels, delay in modes:
            table = _table(args.rows, labels)
            print(f"replay of {args.rows:,} rows at batches of {args.batch}, {what}")
            rates = [
                one_run(model_dir, root, table, args.batch, labels, delay) for _ in range(args.runs)
            ]
            worst, best = min(rates), max(rates)
            ok = worst >= GOAL
            verdicts.append(ok)
            print(
                f"  rows/s over {args.runs} runs: {worst:,.0f} to {best:,.0f}; the lower is "
                f"{worst / GOAL:.2f}x the goal of {GOAL:,.0f} -> {'PASS' if ok else 'FAIL'}\n"
            )
    print(f"overall: {'PASS' if all(verdicts) else 'FAIL'}")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
