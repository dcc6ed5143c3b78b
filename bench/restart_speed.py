"""Restart of ``inferwatch serve`` with a full window against a restart with an empty store.

The store is filled once with N predictions (1M by default) of the iris example, spread over
the last 50 minutes (inside the default one-hour window), written the way the service writes
them (``PredictionStore.write`` of columnar batches), so no window snapshot exists yet. The
first start on it rebuilds the window from every stored row (the cold figure, printed for
reference); its clean stop saves a window snapshot. Then, in alternating rounds, the service
starts on that store and on an empty one; for each start the bench records when ``/healthz``
first answers (serving) and when ``/readyz`` first answers 200 (the window rebuilt, the
writer running), and after the full start checks that ``/api/snapshot`` counts the N rows.
A last round sends ``--tail`` more predictions, kills the service with SIGKILL (no clean
stop: the snapshot lags) and times the restart, which replays the tail after the snapshot.

Goals: ready with N predictions within 2 s more than the empty restart of the same round
(the clean restarts and the one after kill -9), and the port open (serving ``/healthz``) no
later than 1.2 x the empty restart's.

    .venv/bin/python bench/restart_speed.py [--rows 1000000] [--rounds 3] [--tail 20000]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from inferwatch.lifecycle.modeldir import load_model_dir
from inferwatch.store import PredictionBatch, SQLiteStore, new_ids


def fill(store_path: Path, model_dir: Path, rows: int, batch: int = 5000) -> None:
    bundle = load_model_dir(model_dir)
    meta = bundle.metadata
    rng = np.random.default_rng(3)
    now = time.time()
    classes = np.array(bundle.profile.classes or ["0", "1", "2"], dtype=object)
    with SQLiteStore(store_path, checkpoint_seconds=None) as store:
        for start in range(0, rows, batch):
            n = min(batch, rows - start)
            features = {name: rng.normal(3.0, 1.0, n).round(1) for name in meta.feature_names}
            probs = rng.dirichlet(np.ones(len(classes)), n)
            store.write(
                [
                    PredictionBatch(
                        new_ids(n),
                        now - 3000 + 3000 * start / rows,
                        meta.name,
                        meta.version,
                        features,
                        classes[probs.argmax(axis=1)],
                        probs,
                    )
                ],
                [],
                now,
            )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def restart(model_dir: Path, data_dir: Path, before_kill: int = 0) -> tuple[float, float, int]:
    """Seconds from the start of the process to the port open and to ``/readyz`` 200, and the
    window rows the service reports once ready. ``before_kill``: then send that many
    predictions and end the process with SIGKILL instead of a clean stop."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERWATCH_")}
    env["INFERWATCH_LOG_LEVEL"] = "warning"
    cmd = [sys.executable, "-m", "inferwatch.cli", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--model-dir", str(model_dir), "--data-dir", str(data_dir)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    opened = ready = None
    try:
        with httpx.Client(timeout=5) as client:
            while ready is None and time.monotonic() - t0 < 120:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"the service exited: {err[-2000:]}")
                try:
                    if opened is None:  # serving: the port open and /healthz answered
                        client.get(url + "/healthz").raise_for_status()
                        opened = time.monotonic() - t0
                    code = client.get(url + "/readyz").status_code
                except httpx.TransportError:
                    time.sleep(0.01)
                    continue
                if code == 200:
                    ready = time.monotonic() - t0
                else:
                    time.sleep(0.01)
            if ready is None or opened is None:
                raise RuntimeError("the service did not get ready in 120 s")
            window = int(client.get(url + "/api/snapshot").json()["window_rows"])
            if before_kill:
                _send(client, url, model_dir, before_kill)
                proc.kill()
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return opened, ready, window


def _send(client: httpx.Client, url: str, model_dir: Path, rows: int, batch: int = 500) -> None:
    """``rows`` predictions in requests of ``batch``, each acknowledged (stored)."""
    names = load_model_dir(model_dir, load_model=False).metadata.feature_names
    rng = np.random.default_rng(5)
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        values = rng.normal(3.0, 1.0, (n, len(names))).round(1).tolist()
        body = {"dataframe_split": {"columns": names, "data": values}}
        client.post(url + "/invocations", json=body).raise_for_status()


def _verdict(label: str, extra: float, ratio: float) -> bool:
    ok = extra < 2.0
    print(
        f"{label}: {extra:+.2f} s over the empty restart ({ratio:.2f}x), goal < 2 s -> "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tail", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_dir = root / "model"
        train = [sys.executable, "-m", "inferwatch.cli", "train", "--example", "iris"]
        subprocess.run([*train, "--out", str(model_dir)], check=True, stdout=subprocess.DEVNULL)
        full, empty = root / "full", root / "empty"
        t = time.monotonic()
        fill(full / "predictions.sqlite3", model_dir, args.rows)
        print(f"filled the store with {args.rows:,} predictions in {time.monotonic() - t:.1f} s")
        cold = restart(model_dir, full)  # no snapshot yet: every stored row is read
        print(f"cold start (no window snapshot): ready after {cold[1]:.2f} s")
        results: dict[str, list[tuple[float, float, int]]] = {"empty": [], "full": []}
        for _ in range(args.rounds):
            for kind, data_dir in (("empty", empty), ("full", full)):
                results[kind].append(restart(model_dir, data_dir))
                if kind == "empty":
                    for p in empty.glob("predictions.sqlite3*"):
                        p.unlink()
        restart(model_dir, full, before_kill=args.tail)
        killed = restart(model_dir, full)
    return _report(args, results, cold, killed)


def _report(
    args: argparse.Namespace,
    results: dict[str, list[tuple[float, float, int]]],
    cold: tuple[float, float, int],
    killed: tuple[float, float, int],
) -> int:
    med = {k: [statistics.median(r[i] for r in v) for i in range(2)] for k, v in results.items()}
    windows = [r[2] for r in results["full"]]
    print(f"\nRestart to ready, median of {args.rounds} alternating rounds")
    print("| store | port open | /readyz 200 | window rows |")
    print("|---|---|---|---|")
    for kind in ("empty", "full"):
        rows = "0" if kind == "empty" else f"{min(windows):,}"
        print(f"| {kind} | {med[kind][0]:.2f} s | {med[kind][1]:.2f} s | {rows} |")
    print(
        f"| after kill -9 ({args.tail:,} rows of tail) | {killed[0]:.2f} s | {killed[1]:.2f} s"
        f" | {killed[2]:,} |"
    )
    print(f"(cold start without a snapshot: ready after {cold[1]:.2f} s)\n")
    extra = med["full"][1] - med["empty"][1]
    port_ratio = med["full"][0] / med["empty"][0]
    ok_ready = _verdict("ready", extra, med["full"][1] / med["empty"][1])
    ok_killed = _verdict(
        "ready after kill -9", killed[1] - med["empty"][1], killed[1] / med["empty"][1]
    )
    ok_port = port_ratio <= 1.2
    ok_rows = min(windows) >= args.rows and killed[2] >= args.rows + args.tail
    print(
        f"port open: {port_ratio:.2f}x the empty restart's, goal <= 1.2x -> "
        f"{'PASS' if ok_port else 'FAIL'}"
    )
    print(f"window rebuilt: {min(windows):,} of {args.rows:,} -> {'PASS' if ok_rows else 'FAIL'}")
    ok = ok_ready and ok_killed and ok_port and ok_rows
    print(f"\noverall: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
