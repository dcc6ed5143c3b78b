"""/predict throughput with the PostgreSQL store, as a ratio to the SQLite store, same run.

Two ``inferwatch serve`` subprocesses on 127.0.0.1 under the same settings, the same model
(the iris example) and the same load (wrk, fixed connections and duration, alternating
rounds, medians): one on its default SQLite file, one on a throw-away PostgreSQL cluster
(initdb + pg_ctl, as in the tests) over loopback TCP with password authentication. Both
stores commit each group of requests before answering. Durability is matched: SQLite's
default (a committed write survives the process being killed, not an OS crash) against
PostgreSQL with ``fsync=off`` (the same); ``--fsync`` runs PostgreSQL with ``fsync=on``
(survives an OS crash too) for context. Goal: PostgreSQL >= 0.8 x SQLite, single rows and
100-row batches.

    python bench/store_throughput.py [--duration 8] [--connections 16] [--rounds 3] [--fsync]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from serving_overhead import LUA, ROW, wrk  # noqa: E402  # bench scripts are not a package
from tests.support.postgres import PostgresCluster, available  # noqa: E402  # same reason

GOAL = 0.8


def start(
    model_dir: Path, data_dir: Path, env_extra: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    from tests.support.waiting import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERWATCH_")}
    env |= {"INFERWATCH_LOG_LEVEL": "warning", **env_extra}
    cmd = [sys.executable, "-m", "inferwatch.cli", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--model-dir", str(model_dir), "--data-dir", str(data_dir)]
    log = (data_dir.parent / f"{data_dir.name}.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        try:
            if httpx.post(url + "/predict", json=ROW, timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fsync", action="store_true", help="PostgreSQL with fsync=on")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk (make system-deps-bench)", file=sys.stderr)
        return 2
    if not available():
        print("PostgreSQL is needed: apt-get install postgresql", file=sys.stderr)
        return 2
    from inferwatch.examples import write_example

    work = Path(tempfile.mkdtemp(prefix="inferwatch-bench-"))
    model_dir = work / "iris"
    write_example("iris", model_dir)
    scripts = {}
    for name, body in (("one", ROW), ("batch", {"instances": [ROW] * 100})):
        (work / f"{name}.json").write_bytes(orjson.dumps(body))
        scripts[name] = work / f"{name}.lua"
        scripts[name].write_text(LUA.format(body=work / f"{name}.json"))

    cluster = PostgresCluster.create(fsync=args.fsync)
    servers = {}
    try:
        pg_env = {
            "INFERWATCH_STORE_URL": cluster.new_database(),
            "INFERWATCH_STORE_PASSWORD_FILE": str(cluster.password_file),
        }
        servers["sqlite"] = start(model_dir, work / "data-sqlite", {})
        servers["postgresql"] = start(model_dir, work / "data-pg", pg_env)
        for _, url in servers.values():  # warm up
            wrk(url + "/predict", scripts["one"], args.connections, 2)
        results: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for payload in ("one", "batch"):
                for kind, (_, url) in servers.items():
                    rps = wrk(url + "/predict", scripts[payload], args.connections, args.duration)
                    results.setdefault((kind, payload), []).append(rps["rps"])
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(15)
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)

    fsync = "on" if args.fsync else "off"
    print(
        f"wrk: {args.connections} connections, {args.duration}s x {args.rounds} rounds, medians;"
        f" PostgreSQL fsync={fsync}"
    )
    ok = True
    for payload, rows in (("one", 1), ("batch", 100)):
        sqlite = statistics.median(results[("sqlite", payload)])
        pg = statistics.median(results[("postgresql", payload)])
        ratio = pg / sqlite
        passed = ratio >= GOAL
        ok &= passed
        print(
            f"{rows:>3}-row /predict: SQLite {sqlite:8.0f} req/s ({sqlite * rows:9.0f} rows/s),"
            f" PostgreSQL {pg:8.0f} req/s ({pg * rows:9.0f} rows/s),"
            f" ratio {ratio:.2f} (goal >= {GOAL}) {'PASS' if passed else 'FAIL'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
