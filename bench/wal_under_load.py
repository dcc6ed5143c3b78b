"""The SQLite write-ahead log under sustained load: bounded, or growing with the traffic?

Starts ``inferwatch serve`` (the iris example, a fresh data directory) as a subprocess on
127.0.0.1 and drives it with ``--clients`` threads, each posting 20-row batches on its own
keep-alive connection for ``--seconds``. The largest size of ``predictions.sqlite3-wal``
seen (sampled every 0.2 s) is compared with the goal (64 MB) and with the database file it
sits beside (what an unbounded log grows past under steady writes).

    python bench/wal_under_load.py [--seconds 90] [--clients 16]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

GOAL_BYTES = 64 * 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(data_dir: Path, model_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERWATCH_")}
    env["INFERWATCH_DATA_DIR"] = str(data_dir)
    cmd = [sys.executable, "-m", "inferwatch.cli", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--model-dir", str(model_dir)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()

    from inferwatch.examples import load_example_frame, write_example

    work = Path(tempfile.mkdtemp(prefix="inferwatch-wal-"))
    model_dir = work / "iris"
    write_example("iris", model_dir)
    features, _ = load_example_frame("iris")
    rows = features.head(20).to_dict(orient="records")
    port = _free_port()
    proc = _serve(work / "data", model_dir, port)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                print("FAIL: the service did not start")
                return 1
            time.sleep(0.2)

        stop = threading.Event()
        counts = [0] * args.clients
        failures = [0] * args.clients

        def client(i: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as c:
                while not stop.is_set():
                    r = c.post("/predict", json={"instances": rows})
                    counts[i] += 1
                    failures[i] += r.status_code != 200

        wal = work / "data" / "predictions.sqlite3-wal"
        db = work / "data" / "predictions.sqlite3"
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        largest = 0
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            largest = max(largest, wal.stat().st_size if wal.exists() else 0)
            time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(30)
    finally:
        proc.terminate()
        proc.wait(30)

    requests, failed = sum(counts), sum(failures)
    db_size = db.stat().st_size
    mb = 1024 * 1024
    print(
        f"{requests} requests ({requests * 20} rows) from {args.clients} clients in "
        f"{args.seconds:g} s, {failed} failed"
    )
    print(
        f"database {db_size / mb:.1f} MB; largest write-ahead log {largest / mb:.1f} MB "
        f"({largest / max(db_size, 1):.2f} x the database)"
    )
    ok = largest < GOAL_BYTES and failed == 0
    print(f"{'PASS' if ok else 'FAIL'}: log under {GOAL_BYTES // mb} MB and no failed request")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
