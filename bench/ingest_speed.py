"""Ingestion from a local Parquet lake: rows per second into a running service, and memory.

1. Speed. ``inferwatch serve`` (the iris example) runs as a subprocess. The same rows go to
   it twice, in batches of 500: once straight from memory with a bare httpx loop (the
   baseline: what the service itself can take), once through ``LakeSource`` + ``StreamWorker``
   from date-partitioned Parquet files (reading, casting, the durable cursor, labels).
   Goal: the lake path keeps at least 70% of the baseline's rows per second (the baseline
   sends the same requests: rows with their ids, then their labels).
2. Memory. A Parquet file of ``--size-mb`` and one ``--scale`` times larger are read
   through ``LakeSource`` to the end (no service: the reader alone), each in a fresh
   subprocess; the peak resident memory of the two processes is compared. Goal: the
   larger file costs less than 1.5x the smaller one (memory flat in the file size).

``python bench/ingest_speed.py [--rows 50000] [--size-mb 250] [--scale 4]``; prints the
figures and PASS/FAIL per goal, exits 1 on a FAIL. The 1 GB goal of the issue is
``--size-mb 256 --scale 4``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

BATCH = 500
JSON = {"content-type": "application/json"}
NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _table(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {
        name: rng.uniform(lo, hi, n)
        for name, lo, hi in zip(NAMES, (4.5, 2.2, 1.2, 0.2), (7.5, 4.0, 6.5, 2.4), strict=True)
    }
    cols["label"] = rng.choice(["setosa", "versicolor", "virginica"], n)
    cols["reading_id"] = [f"r{i}" for i in range(n)]
    return pa.table(cols)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(work: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    from inferwatch.lifecycle.examples import write_example

    model_dir = work / "model"
    if not model_dir.exists():
        write_example("iris", model_dir)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERWATCH_")}
    env["INFERWATCH_LOG_LEVEL"] = "warning"
    cmd = [sys.executable, "-m", "inferwatch.cli", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--model-dir", str(model_dir), "--data-dir", str(work / name)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the service did not start")


def baseline_rate(url: str, table: pa.Table) -> float:
    """The same requests as the lake path, from memory: each batch's rows with their ids,
    then their labels by those ids."""
    rows = table.drop(["label", "reading_id"]).to_pylist()
    ids = [str(v) for v in table.column("reading_id").to_pylist()]
    labels = table.column("label").to_pylist()
    start = time.perf_counter()
    with httpx.Client(timeout=60) as client:
        for i in range(0, len(rows), BATCH):
            part = slice(i, i + BATCH)
            body = orjson.dumps({"instances": rows[part], "ids": ids[part]})
            client.post(url + "/predict", content=body, headers=JSON).raise_for_status()
            feedback = [{"id": j, "label": y} for j, y in zip(ids[part], labels[part], strict=True)]
            body = orjson.dumps({"labels": feedback})
            client.post(url + "/feedback", content=body, headers=JSON).raise_for_status()
    return len(rows) / (time.perf_counter() - start)


def lake_rate(url: str, table: pa.Table, work: Path) -> float:
    from prometheus_client import CollectorRegistry

    from inferwatch.ingest.cursor import LakeCursor
    from inferwatch.ingest.lake import LakeSource
    from inferwatch.ingest.metrics import SourceMetrics
    from inferwatch.ingest.service import ServiceSink
    from inferwatch.ingest.stream import StreamWorker

    lake = work / "lake"
    per_day = len(table) // 5
    for d in range(5):
        part = lake / f"date=2026-11-{20 + d:02d}"
        part.mkdir(parents=True)
        pq.write_table(table.slice(d * per_day, per_day), part / "part-0.parquet")
    rows = per_day * 5
    lake_url = f"file://{lake}"

    async def go() -> float:
        source = LakeSource(
            lake_url,
            LakeCursor.load(work / "cursor.json", lake_url),
            SourceMetrics(CollectorRegistry()),
            batch_size=BATCH,
            id_field="reading_id",
            poll_seconds=60,
        )
        async with httpx.AsyncClient(timeout=60) as client:
            worker = StreamWorker(source, ServiceSink(client, url), source.metrics, wait_seconds=0)
            start = time.perf_counter()
            while worker.stats.stored < rows:
                await worker.step()
            return rows / (time.perf_counter() - start)

    return asyncio.run(go())


def read_to_end(path: str) -> None:
    """Subprocess: read one file through LakeSource; print the rows and the peak RSS in MB."""
    from prometheus_client import CollectorRegistry

    from inferwatch.ingest.cursor import LakeCursor
    from inferwatch.ingest.lake import LakeSource
    from inferwatch.ingest.metrics import SourceMetrics

    url = f"file://{Path(path).parent}"
    tmp = Path(tempfile.mkdtemp())
    source = LakeSource(
        url,
        LakeCursor.load(tmp / "c.json", url),
        SourceMetrics(CollectorRegistry()),
        batch_size=BATCH,
        id_field="reading_id",
        poll_seconds=60,
    )

    async def go() -> int:
        n = 0
        while True:
            d = await source.next(0)
            if d is None:
                return n
            n += len(d.records)
            d.commit()

    rows = asyncio.run(go())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{rows} {peak / 1024:.1f}")


def write_big(path: Path, size_mb: float) -> int:
    """An uncompressed Parquet file of about ``size_mb``, in 64k-row groups; its rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    chunk = _table(65_536, seed=1)
    groups = max(1, round(size_mb * 1e6 / chunk.nbytes))
    with pq.ParquetWriter(path, chunk.schema, compression="none") as writer:
        for _ in range(groups):
            writer.write_table(chunk, row_group_size=65_536)
    return groups * 65_536


def memory(work: Path, size_mb: float) -> tuple[int, float, float]:
    path = work / f"big-{size_mb:g}" / "part-0.parquet"
    write_big(path, size_mb)
    file_mb = path.stat().st_size / 1e6
    out = subprocess.run(
        [sys.executable, __file__, "--read", str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), file_mb, float(out[1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=50_000)
    p.add_argument("--size-mb", type=float, default=100.0)
    p.add_argument("--scale", type=float, default=4.0)
    p.add_argument("--read", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.read:
        read_to_end(args.read)
        return 0
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        table = _table(args.rows)
        proc, url = start_service(work, "data-base")
        try:
            base = baseline_rate(url, table)
        finally:
            proc.terminate()
            proc.wait(20)
        proc, url = start_service(work, "data-lake")
        try:
            lake = lake_rate(url, table, work)
        finally:
            proc.terminate()
            proc.wait(20)
        ratio = lake / base
        verdict = "PASS" if ratio >= 0.7 else "FAIL"
        ok &= verdict == "PASS"
        print(
            f"speed   baseline {base:,.0f} rows/s   lake {lake:,.0f} rows/s   "
            f"ratio {ratio:.2f} (goal >= 0.70)  {verdict}"
        )
        small = memory(work, args.size_mb)
        large = memory(work, args.size_mb * args.scale)
        growth = large[2] / max(small[2], 1.0)
        verdict = "PASS" if growth < 1.5 else "FAIL"
        ok &= verdict == "PASS"
        for rows, mb, peak in (small, large):
            print(f"memory  {mb:,.0f} MB file, {rows:,} rows: peak RSS {peak:,.0f} MB")
        print(
            f"memory  {args.scale:g}x the file costs {growth:.2f}x the memory (goal < 1.5)  "
            f"{verdict}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
