"""Window snapshots: a restart merges the saved counts and replays only the tail, and gets the
same window as a full rebuild; a damaged, foreign or stale snapshot is never used."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.support.waiting import wait_until

from inferwatch.core.monitor import Monitor
from inferwatch.lifecycle.examples import load_example_frame
from inferwatch.lifecycle.modeldir import load_model_dir
from inferwatch.server import checkpoint
from inferwatch.store import PredictionStore, SQLiteStore, open_store

FRAME = load_example_frame("iris")[0]
ROWS = FRAME.head(60).to_dict(orient="records")
SHIFTED = (FRAME.head(40) + 1.5).to_dict(orient="records")  # drifted inputs


def _window(snap: dict[str, Any]) -> dict[str, Any]:
    """What a restart must keep: window counts, predicted classes, accuracy, quality."""
    return {
        "rows": snap["window_rows"],
        "features": {f["name"]: f["window_counts"] for f in snap["features"]},
        "prediction": snap["prediction"]["window_counts"],
        "performance": snap["performance"],
        "estimated_accuracy": pytest.approx(snap["estimated_accuracy"], rel=1e-12),
        "quality": snap["totals"]["quality_issues"],
        "predicted": snap["totals"]["predictions"],
        "labeled": snap["totals"]["labeled"],
    }


def _saved_mark(open_it: Callable[[], PredictionStore], monitor: Monitor) -> int:
    store = open_it()
    try:
        saved = checkpoint.load(store, monitor)
    finally:
        store.close()
    return -1 if saved is None else saved.mark


def _monitor(model_dir: Path, version: str | None = None) -> Monitor:
    from inferwatch.core.monitor import MonitorConfig

    bundle = load_model_dir(model_dir, load_model=False)
    meta = bundle.metadata
    return Monitor(
        bundle.schema,
        bundle.profile,
        MonitorConfig(),
        model=meta.name,
        model_version=version or meta.version,
    )


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_restart_after_kill_9_gives_the_same_window(
    engine: str,
    serve_process: Callable[..., Any],
    iris_model_dir: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    data_dir = tmp_path / "data"
    args = ["--model-dir", str(iris_model_dir), "--data-dir", str(data_dir)]
    env, open_it = _engine(engine, data_dir, request)
    first = serve_process(args, env=env)
    c = httpx.Client(base_url=first.url, timeout=30)
    wait_until(lambda: c.get("/readyz").status_code == 200, what="ready")
    ids = c.post("/predict", json={"instances": ROWS}).json()["ids"]
    labels = [{"id": i, "label": "setosa"} for i in ids[:30]]
    assert c.post("/feedback", json={"labels": labels}).status_code == 200
    monitor = _monitor(iris_model_dir)
    after_start = _saved_mark(open_it, monitor)
    # a snapshot taken under traffic (at most every few seconds) holds the first rows ...
    wait_until(
        lambda: (
            c.post("/predict", json={"instances": ROWS[:2]}).status_code == 200
            and _saved_mark(open_it, monitor) > after_start
        ),
        timeout=30,
        interval=0.5,
        what="a snapshot with rows",
    )
    # ... and what comes after it is only in the store: the tail a restart replays
    more = c.post("/predict", json={"instances": [*SHIFTED, {**ROWS[0], "sepal_length": 99.0}]})
    tail_labels = [{"id": i, "label": "virginica"} for i in more.json()["ids"][:20]]
    assert c.post("/feedback", json={"labels": tail_labels}).status_code == 200
    stored = _stored_rows(open_it)
    before = wait_until(
        lambda: (s := c.get("/api/snapshot").json())["window_rows"] == stored and s,
        what="every row in the window",
    )
    first.kill()
    c.close()

    again = serve_process(args, env=env)
    c2 = httpx.Client(base_url=again.url, timeout=30)
    wait_until(lambda: c2.get("/readyz").status_code == 200, what="ready again")
    after = c2.get("/api/snapshot").json()
    c2.close()
    assert _window(after) == _window(before)
    assert after["drift_detected"] == before["drift_detected"]
    # the restart merged the snapshot and replayed the tail: it counts every row once
    assert "from a snapshot and the tail" in again.output()
    assert after["service"]["rebuilt"] == {"predictions": stored, "labels": 50}


def _engine(
    engine: str, data_dir: Path, request: pytest.FixtureRequest
) -> tuple[dict[str, str], Callable[[], PredictionStore]]:
    """The service's environment for ``engine`` and a way to open its store."""
    if engine == "postgres":
        cluster = request.getfixturevalue("postgres_cluster")
        url = cluster.new_database()
        env = {"INFERWATCH_STORE_URL": url, "INFERWATCH_STORE_PASSWORD_FILE": cluster.password_file}
        return env, lambda: open_store(url, password_file=cluster.password_file)
    return {}, lambda: SQLiteStore(data_dir / "predictions.sqlite3", checkpoint_seconds=None)


def _stored_rows(open_it: Callable[[], PredictionStore]) -> int:
    store = open_it()
    try:
        return store.stats().predictions
    finally:
        store.close()


def _fill(store: PredictionStore, model_dir: Path, rows: int) -> None:
    from inferwatch.store import PredictionBatch, new_ids

    meta = load_model_dir(model_dir, load_model=False).metadata
    features = {n: np.full(rows, 5.0) for n in meta.feature_names}
    preds = np.array(["setosa"] * rows, dtype=object)
    store.write(
        [
            PredictionBatch(
                new_ids(rows), time.time() - 60, meta.name, meta.version, features, preds
            )
        ],
        [],
        time.time(),
    )


def _planted(model_dir: Path, version: str | None, rows: int, mark: int) -> bytes:
    """A valid snapshot that claims ``rows`` extra predictions up to ``mark``."""
    monitor = _monitor(model_dir, version)
    batch = {n: np.full(rows, 5.0) for n in monitor.schema.names}
    monitor.observe(batch, np.array(["setosa"] * rows, dtype=object), None, time.time())
    return checkpoint.encode(monitor, mark, time.time() - 30, time.time())


@pytest.mark.parametrize("case", ["damaged", "other_version", "ahead_of_the_store"])
def test_an_unusable_snapshot_falls_back_to_the_full_rebuild(
    case: str, service: Callable[..., Any], iris_model_dir: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    path = data_dir / "predictions.sqlite3"
    served = _monitor(iris_model_dir)
    with SQLiteStore(path, checkpoint_seconds=None) as store:
        _fill(store, iris_model_dir, 25)
        mark = store.last_batch()
        # a valid snapshot up to ``mark`` with 1000 rows the store does not have: used, the
        # window would count them; each case spoils it in one way
        if case == "damaged":
            body = bytearray(_planted(iris_model_dir, None, 1000, mark))
            body[len(body) // 2] ^= 0xFF
            planted = bytes(body)
        elif case == "other_version":
            planted = _planted(iris_model_dir, "some-other-version", 1000, 0)
        else:
            planted = _planted(iris_model_dir, None, 1000, mark + 100)
        store.save_snapshot(checkpoint.key_of(served), planted)
        if case == "other_version":
            with pytest.raises(ValueError):
                checkpoint.decode(planted, served)
    svc = service(data_dir=data_dir)
    snap = svc.client.get("/api/snapshot").json()
    assert snap["window_rows"] == 25
    assert snap["service"]["rebuilt"] == {"predictions": 25, "labels": 0}


def test_a_good_snapshot_is_merged_and_only_the_tail_replayed(
    service: Callable[..., Any], iris_model_dir: Path, tmp_path: Path
) -> None:
    """The counterpart of the cases above: the same planted snapshot, intact and of this
    version, is used (so those tests show the fallback, not an unused snapshot)."""
    data_dir = tmp_path / "data"
    served = _monitor(iris_model_dir)
    with SQLiteStore(data_dir / "predictions.sqlite3", checkpoint_seconds=None) as store:
        _fill(store, iris_model_dir, 25)
        mark = store.last_batch()
        _fill(store, iris_model_dir, 7)  # after the mark: the tail
        store.save_snapshot(checkpoint.key_of(served), _planted(iris_model_dir, None, 1000, mark))
    svc = service(data_dir=data_dir)
    snap = svc.client.get("/api/snapshot").json()
    assert snap["window_rows"] == 1007
    assert snap["service"]["rebuilt"] == {"predictions": 1007, "labels": 0}


def test_snapshots_stop_when_another_writer_shares_the_store(
    service: Callable[..., Any], postgres_cluster: Any
) -> None:
    url = postgres_cluster.new_database()
    pw = postgres_cluster.password_file
    a = service(store_url=url, store_password_file=pw)
    b = service(store_url=url, store_password_file=pw)
    for svc in (a, b, a):
        assert svc.client.post("/predict", json={"instances": ROWS[:10]}).status_code == 200
    chain = a.state.snapshots
    wait_until(lambda: a.client.get("/api/snapshot").json()["window_rows"] == 20)
    assert chain.save(force=True) is False
    assert chain.alone is False
    fresh = service(store_url=url, store_password_file=pw)
    assert fresh.client.get("/api/snapshot").json()["window_rows"] == 30


def test_a_snapshot_is_saved_only_while_this_process_wrote_alone(
    iris_model_dir: Path, tmp_path: Path
) -> None:
    """The chain's check, on its own: rows it was told of pass, a row it was not told of
    (another writer's) stops the snapshots, and the last good one stays."""
    monitor = _monitor(iris_model_dir)
    with SQLiteStore(tmp_path / "p.sqlite3", checkpoint_seconds=None) as store:
        chain = checkpoint.SnapshotChain(store, time.time, every=0.0)
        chain.begin(store.last_batch(), time.time())
        chain.arm(monitor)
        _fill(store, iris_model_dir, 10)  # this process's write, told to the chain
        chain.absorbed(store.last_written, time.time(), 10, 0)
        assert chain.save() is True
        saved = checkpoint.load(store, monitor)
        assert saved is not None and saved.mark == store.last_batch()
        other = SQLiteStore(tmp_path / "p.sqlite3", checkpoint_seconds=None)
        _fill(other, iris_model_dir, 5)  # another writer's rows
        other.close()
        _fill(store, iris_model_dir, 3)
        chain.absorbed(store.last_written, time.time(), 3, 0)
        assert chain.save() is False and chain.alone is False
        kept = checkpoint.load(store, monitor)
        assert kept is not None and kept.mark == saved.mark


def test_the_confidence_histogram_travels_with_the_monitor_state(iris_model_dir: Path) -> None:
    """The top-class confidence is kept once, by the monitor of the version that scored the
    rows: its histogram is in the totals and in the saved state a restart merges back."""
    import numpy as np

    first = _monitor(iris_model_dir)
    rows = {k: np.array([r[k] for r in ROWS], dtype=np.float64) for k in ROWS[0]}
    n = len(ROWS)
    probs = np.tile([0.97, 0.02, 0.01], (n, 1))
    probs[0] = [0.5, 0.3, 0.2]
    first.observe(rows, np.array(["setosa"] * n, dtype=object), probs, 1000.0)
    totals = first.snapshot(1000.0).totals
    assert sum(totals.confidence_counts) == n and totals.confidence_counts[2] == 1
    assert totals.confidence_sum == pytest.approx(0.5 + 0.97 * (n - 1))
    again = _monitor(iris_model_dir)
    again.merge_state(first.state())
    assert again.snapshot(1000.0).totals == totals
    old = {k: v for k, v in first.state().items() if not k.startswith("confidence_")}
    with pytest.raises(ValueError, match="confidence"):
        _monitor(iris_model_dir).merge_state(old)
