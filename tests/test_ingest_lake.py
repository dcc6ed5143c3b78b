"""Lake files (file://) through the real service: order, exactly once, restarts, casting."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from prometheus_client import CollectorRegistry
from tests.support.lake import readings, write_partition
from tests.support.waiting import wait_until

from inferwatch.ingest.cursor import LakeCursor
from inferwatch.ingest.lake import LakeSource
from inferwatch.ingest.metrics import SourceMetrics
from inferwatch.ingest.service import ServiceSink
from inferwatch.ingest.stream import StreamWorker
from inferwatch.lifecycle.modeldir import read_schema


def lake_source(root: Path, cursor: Path, registry: CollectorRegistry, **kw: Any) -> LakeSource:
    url = f"file://{root}"
    return LakeSource(
        url,
        LakeCursor.load(cursor, url),
        SourceMetrics(registry),
        poll_seconds=0.0,
        **kw,
    )


async def drain(source: LakeSource, url: str, steps: int, registry: CollectorRegistry) -> Any:
    """Run ``steps`` worker steps against the service; returns the worker."""
    async with httpx.AsyncClient(timeout=30) as client:
        worker = StreamWorker(source, ServiceSink(client, url), source.metrics, wait_seconds=0)
        await source.start()
        for _ in range(steps):
            await worker.step()
        return worker


def window_rows(running: Any) -> int:
    return int(running.client.get("/api/snapshot").json()["window_rows"])


def test_lake_partitions_are_scored_in_order_once_with_their_labels(
    tmp_path: Path, service: Any
) -> None:
    running = service()
    lake = tmp_path / "lake"
    write_partition(lake, "2026-11-21", 120, 0)
    write_partition(lake, "2026-11-22", 80, 120)
    registry = CollectorRegistry()
    source = lake_source(
        lake,
        tmp_path / "cursor.json",
        registry,
        batch_size=50,
        label_field="label",
        id_field="reading_id",
    )
    seen: list[str] = []
    original = source._delivery

    def spy(path: str, row: int, batch: Any) -> Any:
        seen.append(path.rsplit("/", 2)[-2])
        return original(path, row, batch)

    source._delivery = spy  # type: ignore[method-assign]  # record the read order
    worker = asyncio.run(drain(source, running.url, 12, registry))
    assert worker.stats.stored == 200
    assert seen == sorted(seen)  # date partitions in date order
    # a partition written later is picked up at the next listing
    write_partition(lake, "2026-11-23", 30, 200)
    worker = asyncio.run(drain(source, running.url, 4, registry))
    assert worker.stats.stored == 30
    snap = wait_until(
        lambda: (s := running.client.get("/api/snapshot").json())["window_rows"] == 230 and s,
        what="230 rows in the monitor",
    )
    assert snap["performance"]["labels"] == 230
    assert registry.get_sample_value("inferwatch_source_records_total", {"source": "lake"}) == 230
    assert registry.get_sample_value("inferwatch_source_lag_seconds", {"source": "lake"}) == 0


def test_lake_restart_resumes_where_the_cursor_stopped(tmp_path: Path, service: Any) -> None:
    running = service()
    lake = tmp_path / "lake"
    write_partition(lake, "2026-11-21", 100, 0)
    write_partition(lake, "2026-11-22", 100, 100)
    cursor = tmp_path / "cursor.json"
    first = asyncio.run(
        drain(
            lake_source(lake, cursor, CollectorRegistry(), batch_size=30),
            running.url,
            3,
            CollectorRegistry(),
        )
    )
    assert first.stats.stored == 90
    saved = LakeCursor.load(cursor, f"file://{lake}")
    assert saved.current is not None and saved.current.endswith("date=2026-11-21/part-0.parquet")
    assert saved.row == 90
    # a new process: the cursor file is all it knows
    second = asyncio.run(
        drain(
            lake_source(lake, cursor, CollectorRegistry(), batch_size=30),
            running.url,
            12,
            CollectorRegistry(),
        )
    )
    assert second.stats.stored == 110
    wait_until(lambda: window_rows(running) == 200, what="each row scored exactly once")


def test_lake_csv_is_cast_by_the_schema_and_a_bad_file_is_skipped(
    tmp_path: Path, service: Any, iris_model_dir: Path
) -> None:
    running = service()
    lake = tmp_path / "lake"
    (lake / "date=2026-11-21").mkdir(parents=True)
    table = readings(40).drop(["reading_id"])
    # numbers written as text, the way many exports do
    as_text = pa.table(
        {n: pa.array([str(v) for v in table[n].to_pylist()]) for n in table.column_names}
    )
    pq.write_table(as_text, lake / "date=2026-11-21" / "a.parquet")
    (lake / "date=2026-11-21" / "b.parquet").write_bytes(b"not parquet at all")
    pcsv.write_csv(readings(10, 40).drop(["reading_id"]), lake / "date=2026-11-22.csv")
    registry = CollectorRegistry()
    schema = read_schema(iris_model_dir / "schema.json")
    source = lake_source(lake, tmp_path / "c.json", registry, batch_size=25, schema=schema)
    worker = asyncio.run(drain(source, running.url, 10, registry))
    assert worker.stats.stored == 50
    assert worker.sink.stats.rejected == 0
    assert (
        registry.get_sample_value(
            "inferwatch_source_errors_total", {"source": "lake", "kind": "unreadable"}
        )
        == 1
    )
    snap = wait_until(
        lambda: (s := running.client.get("/api/snapshot").json())["window_rows"] == 50 and s,
        what="50 rows",
    )
    # every text number arrived as a number: no wrong_type issue was counted
    assert not [
        q for q in snap["totals"]["quality_issues"] if q["check"] == "wrong_type" and q["count"]
    ]


def test_lake_crash_after_storing_before_the_cursor_moved_scores_once(
    tmp_path: Path, service: Any
) -> None:
    running = service()
    lake = tmp_path / "lake"
    write_partition(lake, "2026-11-21", 60, 0)
    cursor = tmp_path / "cursor.json"

    async def crash_before_commit() -> None:
        source = lake_source(
            lake, cursor, CollectorRegistry(), batch_size=40, id_field="reading_id"
        )
        async with httpx.AsyncClient(timeout=30) as client:
            delivery = await source.next(0)
            assert delivery is not None and len(delivery.records) == 40
            assert await ServiceSink(client, running.url).deliver(delivery) == 40
            # the process dies here: stored, but the cursor never moved

    asyncio.run(crash_before_commit())
    assert not cursor.exists()
    source = lake_source(lake, cursor, CollectorRegistry(), batch_size=40, id_field="reading_id")
    worker = asyncio.run(drain(source, running.url, 4, CollectorRegistry()))
    assert worker.sink.stats.duplicates == 40  # the service knew them by their ids (409)
    assert worker.sink.stats.scored == 20
    wait_until(lambda: window_rows(running) == 60, what="60 rows, none twice")
    assert running.client.get("/api/snapshot").json()["window_rows"] == 60


def test_bodies_keep_non_finite_values_apart_from_missing_ones() -> None:
    """orjson would write NaN as null (missing); the service counts NaN as non-finite, so a
    body holding one goes out with the standard encoder's token instead; an integer beyond
    64 bits (which orjson refuses) still goes out."""
    import json

    from inferwatch.core.jsonbody import dumps, parse

    plain = {"instances": [{"a": 1.5, "b": None, "c": "x"}], "ids": ["r1"]}
    assert json.loads(dumps(plain, keep_non_finite=True)) == plain
    odd = {"instances": [{"a": float("nan"), "b": None}, {"a": float("inf"), "b": 2.0}]}
    text = dumps(odd, keep_non_finite=True).decode()
    assert "NaN" in text and "Infinity" in text and text.count("null") == 1
    assert parse(dumps({"n": 2**70}, keep_non_finite=True)) == {"n": 2**70}
