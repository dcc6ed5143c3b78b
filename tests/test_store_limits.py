"""The SQLite store's limits: a bounded write-ahead log, a private file, readable failures."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inferwatch.store import PredictionRecord, SQLiteStore, StoreError, new_ids

FEATURES = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def _records(n: int, ts: float) -> list[PredictionRecord]:
    return [
        PredictionRecord(
            pid, ts, "iris", "1", FEATURES | {"pad": "x" * 400}, "setosa", 0.9, [0.9, 0.05, 0.05]
        )
        for pid in new_ids(n)
    ]


def test_store_file_and_log_are_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "p.sqlite3"
    with SQLiteStore(path) as store:
        store.write(_records(3, 1.0), [], now=1.0)
        for p in (path, path.with_name("p.sqlite3-wal")):
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


@pytest.mark.parametrize("every", [0.02, 3600.0], ids=["checkpointer", "starved-checkpointer"])
def test_store_log_stays_bounded_under_steady_writes(tmp_path: Path, every: float) -> None:
    """Under steady writes a PASSIVE checkpoint never reaches the end of the log, so the log
    never starts over; past its limit it must be truncated all the same, also when the
    checkpoint thread does not get to run (a busy machine): then the writer does it."""
    path = tmp_path / "p.sqlite3"
    wal = path.with_name("p.sqlite3-wal")
    limit = 1_000_000
    stop = threading.Event()
    largest = 0
    with SQLiteStore(path, checkpoint_seconds=every, wal_limit_bytes=limit) as store:

        def reader() -> None:  # the dashboard and readiness probes read meanwhile
            while not stop.is_set():
                store.stats()
                time.sleep(0.01)

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            for i in range(300):  # about 17 MB of log in all
                store.write(_records(50, float(i)), [], now=float(i))
                largest = max(largest, wal.stat().st_size)
        finally:
            stop.set()
            thread.join(10)
        assert store.stats().predictions == 15_000
    # four times the limit, plus the one write that crossed it
    assert largest < 5 * limit, f"the log reached {largest} bytes"


@pytest.fixture
def small_mount(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (needs root and mount; skipped where neither is allowed)."""
    where = tmp_path / "mnt"
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _serve_once(data_dir: Path, model_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERWATCH_")}
    env |= {"INFERWATCH_DATA_DIR": str(data_dir), "INFERWATCH_PORT": "0"}
    cmd = [sys.executable, "-m", "inferwatch.cli", "serve", "--model-dir", str(model_dir)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_serve_on_a_full_disk_says_so_in_one_line(small_mount: Path, iris_model_dir: Path) -> None:
    filler = small_mount / "filler"
    with filler.open("wb") as f, pytest.raises(OSError):
        f.write(b"\0" * 1_000_000)
    done = _serve_once(small_mount / "data", iris_model_dir)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "disk is full" in lines[0], done.stderr


def test_serve_on_a_read_only_disk_says_so_in_one_line(
    small_mount: Path, iris_model_dir: Path
) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    done = _serve_once(small_mount / "data", iris_model_dir)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "read-only" in lines[0].lower(), done.stderr


def test_store_open_errors_name_the_cause(tmp_path: Path) -> None:
    not_db = tmp_path / "p.sqlite3"
    not_db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable prediction store"):
        SQLiteStore(not_db)
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(StoreError, match="cannot open the prediction store"):
        SQLiteStore(blocked / "p.sqlite3")  # its directory is a file
