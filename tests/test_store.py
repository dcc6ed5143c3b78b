from __future__ import annotations

import math
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.support.waiting import wait_until

from inferwatch.store import (
    LabelItem,
    LabelledRowsStored,
    PredictionBatch,
    PredictionRecord,
    PredictionStore,
    SQLiteStore,
    StoreError,
    new_ids,
    open_store,
)
from inferwatch.store.codec import encode_features
from inferwatch.store.migrations import MIGRATIONS, SCHEMA_VERSION

FEATURES = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def record(
    pid: str, ts: float, prediction: str | float = "setosa", **kw: object
) -> PredictionRecord:
    fields: dict[str, object] = {
        "model": "iris",
        "model_version": "1",
        "features": FEATURES,
        "prediction": prediction,
        "confidence": 0.9,
        "probabilities": [0.9, 0.07, 0.03],
    }
    fields.update(kw)
    return PredictionRecord(pid, ts, **fields)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PredictionStore]:
    """The same contract tests against each engine (PostgreSQL: a fresh database)."""
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'data' / 'predictions.sqlite3'}")
    else:
        cluster = request.getfixturevalue("postgres_cluster")
        s = open_store(cluster.new_database(), password_file=cluster.password_file)
    yield s
    s.close()


def test_store_round_trip_keeps_every_field(store: PredictionStore) -> None:
    features = {"x": 1.5, "color": "red", "missing": None, "n": np.float64(2.0)}
    store.write(
        [
            record("a", 100.0, features=features),
            record("b", 101.0, prediction=3.25, confidence=None, probabilities=None),
        ],
        [],
        now=101.0,
    )
    a = store.get("a")
    assert a is not None
    assert a.features == {"x": 1.5, "color": "red", "missing": None, "n": 2.0}
    assert (a.prediction, a.confidence, a.probabilities) == ("setosa", 0.9, [0.9, 0.07, 0.03])
    assert (a.model, a.model_version, a.timestamp, a.label) == ("iris", "1", 100.0, None)
    b = store.get("b")
    assert b is not None
    assert b.prediction == 3.25 and isinstance(b.prediction, float)
    assert b.confidence is None and b.probabilities is None
    assert store.get("nope") is None


def test_store_keeps_nan_features(store: PredictionStore) -> None:
    store.write([record("a", 1.0, features={"x": float("nan")})], [], now=1.0)
    a = store.get("a")
    assert a is not None and math.isnan(a.features["x"])


def test_store_label_outcomes(store: PredictionStore) -> None:
    store.write([record("p1", 10.0), record("p2", 20.0, prediction="virginica")], [], now=20.0)
    outcomes = store.write(
        [record("p3", 30.0)],
        [
            LabelItem("p1", "setosa", 40.0),
            LabelItem("missing", "setosa", 40.0),
            LabelItem("p2", "versicolor", 40.0),
            LabelItem("p2", "virginica", 40.0),  # twice in one batch
            LabelItem("p3", "setosa", 40.0),  # prediction of the same write
        ],
        now=50.0,
    )
    assert [o.outcome for o in outcomes] == [
        "matched",
        "unknown_id",
        "matched",
        "duplicate",
        "matched",
    ]
    first = outcomes[0]
    assert (first.prediction, first.model_version, first.delay_seconds) == ("setosa", "1", 40.0)
    assert outcomes[1].prediction is None and outcomes[1].delay_seconds is None
    assert outcomes[2].prediction == "virginica" and outcomes[2].delay_seconds == 30.0
    # a label already stored for that id
    again = store.write([], [LabelItem("p1", "virginica", 60.0)], now=60.0)
    assert [o.outcome for o in again] == ["duplicate"]
    p1 = store.get("p1")
    assert p1 is not None and p1.label == "setosa"
    p2 = store.get("p2")
    assert p2 is not None and p2.label == "versicolor"
    assert store.stats().labels == 3


def test_store_numeric_labels_for_regression(store: PredictionStore) -> None:
    store.write([record("r", 1.0, prediction=2.5, probabilities=None)], [], now=1.0)
    [outcome] = store.write([], [LabelItem("r", 3.0, 2.0)], now=2.0)
    assert outcome.outcome == "matched" and outcome.prediction == 2.5
    [label] = store.recent_labels(0.0)
    assert (label.prediction, label.label) == (2.5, 3.0)


def test_store_duplicate_prediction_id_keeps_the_first(store: PredictionStore) -> None:
    store.write([record("a", 1.0, prediction="setosa")], [], now=1.0)
    store.write([record("a", 2.0, prediction="virginica")], [], now=2.0)
    a = store.get("a")
    assert a is not None and a.prediction == "setosa"
    assert store.stats().predictions == 1


def test_store_recent_windows_are_ordered_and_filtered(store: PredictionStore) -> None:
    store.write(
        [record("c", 30.0), record("a", 10.0), record("b", 20.0, model_version="2")],
        [],
        now=30.0,
    )
    store.write([], [LabelItem("a", "setosa", 35.0)], now=40.0)
    store.write([], [LabelItem("c", "virginica", 45.0)], now=50.0)

    assert [r.id for r in store.recent_predictions(15.0)] == ["b", "c"]
    assert [r.id for r in store.recent_predictions(0.0)] == ["a", "b", "c"]
    assert [r.id for r in store.recent_predictions(0.0, model_version="1")] == ["a", "c"]
    assert [r.id for r in store.recent_predictions(0.0, limit=2)] == ["b", "c"]
    first = store.recent_predictions(0.0)[0]
    assert first.features == FEATURES and first.probabilities == [0.9, 0.07, 0.03]

    labels = store.recent_labels(45.0)
    assert [(lab.id, lab.prediction, lab.label) for lab in labels] == [("c", "setosa", "virginica")]
    assert labels[0].received_at == 50.0 and labels[0].delay_seconds == 20.0
    assert [lab.id for lab in store.recent_labels(0.0)] == ["a", "c"]


def test_store_purge_removes_old_predictions_and_their_labels(store: PredictionStore) -> None:
    store.write([record(f"old{i}", float(i)) for i in range(5)], [], now=5.0)
    store.write([record("new", 100.0)], [LabelItem("old1", "setosa", 6.0)], now=6.0)
    store.write([], [LabelItem("new", "setosa", 101.0)], now=101.0)
    assert store.purge(older_than=50.0) == 5
    stats = store.stats()
    assert (stats.predictions, stats.labels, stats.oldest, stats.newest) == (1, 1, 100.0, 100.0)
    assert store.get("old1") is None
    assert store.purge(older_than=50.0) == 0


def test_store_purge_in_chunks(store: PredictionStore) -> None:
    store.write([record(f"p{i}", float(i)) for i in range(25)], [], now=25.0)
    store.write([], [LabelItem(f"p{i}", "setosa", 30.0) for i in range(25)], now=30.0)
    assert store.purge(older_than=23.0, chunk=4) == 23
    stats = store.stats()
    assert (stats.predictions, stats.labels, stats.oldest) == (2, 2, 23.0)


def test_store_reopens_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite3"
    with SQLiteStore(path) as s:
        s.write([record("a", 1.0)], [LabelItem("a", "setosa", 2.0)], now=2.0)
    with SQLiteStore(path) as s:
        got = s.get("a")
        assert got is not None and got.label == "setosa"
        assert s.writable()


def test_store_uses_wal_and_the_chosen_sync_level(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite3"
    with SQLiteStore(path, synchronous="FULL") as s:
        s.write([record("a", 1.0)], [], now=1.0)
        conn = s._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(path, synchronous="SOMETIMES")  # type: ignore[arg-type]


def test_store_checkpoints_the_log_into_the_file_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite3"

    def rows_in_main_file() -> int:
        copy = tmp_path / "copy.sqlite3"  # the database file alone, without its log
        shutil.copyfile(path, copy)
        conn = sqlite3.connect(copy)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])
        except sqlite3.DatabaseError:  # no tables in the file yet, or copied mid-checkpoint
            return -1
        finally:
            conn.close()

    with SQLiteStore(path, checkpoint_seconds=0.05) as s:
        s.write([record(i, 1.0) for i in new_ids(30)], [], now=1.0)
        wait_until(lambda: rows_in_main_file() == 30, 10, "rows copied into the database file")


def test_store_rejects_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"p\.sqlite3"):
        SQLiteStore(path)


def test_store_rejects_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(StoreError, match="schema 99"):
        SQLiteStore(path)


_SCHEMA_1 = """
CREATE TABLE predictions (id TEXT NOT NULL, ts REAL NOT NULL, model TEXT NOT NULL,
    model_version TEXT NOT NULL, features TEXT NOT NULL, prediction NOT NULL,
    confidence REAL, probabilities TEXT);
CREATE UNIQUE INDEX predictions_id ON predictions (id);
CREATE INDEX predictions_ts ON predictions (ts);
CREATE TABLE labels (id TEXT PRIMARY KEY, label NOT NULL, ts REAL NOT NULL,
    received REAL NOT NULL, delay REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX labels_received ON labels (received);
CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
PRAGMA user_version=1;
"""


def test_store_migrates_a_file_of_schema_1(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(_SCHEMA_1)
    rows = [
        ("a", 10.0, '{"x":1.5,"c":"red"}', "setosa", 0.9, "[0.9,0.1]"),
        ("b", 10.0, '{"x":NaN,"c":null}', "virginica", 0.6, "[0.4,0.6]"),
        ("c", 20.0, '{"x":3.0,"c":"blue"}', 2.5, None, None),
    ]
    conn.executemany(
        "INSERT INTO predictions VALUES (?, ?, 'iris', '1', ?, ?, ?, ?)",
        rows,
    )
    conn.execute("INSERT INTO labels VALUES ('b', 'setosa', 30.0, 31.0, 21.0)")
    conn.commit()
    conn.close()
    with SQLiteStore(path) as s:
        assert [r.id for r in s.recent_predictions(0.0)] == ["a", "b", "c"]
        b = s.get("b")
        assert b is not None and math.isnan(b.features["x"]) and b.features["c"] is None
        assert (b.prediction, b.confidence, b.probabilities, b.label) == (
            "virginica",
            0.6,
            [0.4, 0.6],
            "setosa",
        )
        c = s.get("c")
        assert c is not None and (c.prediction, c.confidence, c.probabilities) == (2.5, None, None)
        assert [lab.id for lab in s.recent_labels(0.0)] == ["b"]
        assert s.stats().predictions == 3
    with SQLiteStore(path) as s:  # opens as the current schema from now on
        assert s._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert s.get("a") is not None


def test_store_batches_round_trip_by_row(store: PredictionStore) -> None:
    first = PredictionBatch(
        ["a", "b"],
        10.0,
        "shop",
        "3",
        {
            "x": np.array([1.5, float("nan")]),
            "color": np.array(["red", None], dtype=object),
        },
        np.array(["yes", "no"], dtype=object),
        np.array([[0.2, 0.8], [0.7, 0.3]]),
    )
    second = PredictionBatch(
        ["c"],
        10.5,
        "shop",
        "3",
        {"x": np.array([2.0]), "color": np.array(["blue"], dtype=object)},
        np.array(["yes"], dtype=object),
        np.array([[0.4, 0.6]]),
    )
    outcomes = store.write([first, second], [LabelItem("c", "no", 11.0)], now=12.0)
    assert [(o.outcome, o.prediction, o.model_version) for o in outcomes] == [
        ("matched", "yes", "3")
    ]
    b = store.get("b")
    assert b is not None
    assert math.isnan(b.features["x"]) and b.features["color"] is None
    assert (b.prediction, b.confidence, b.probabilities) == ("no", 0.7, [0.7, 0.3])
    assert (b.model, b.timestamp, b.label) == ("shop", 10.0, None)
    c = store.get("c")
    assert c is not None and c.features == {"x": 2.0, "color": "blue"} and c.label == "no"
    assert c.delay_seconds == pytest.approx(2.0)
    assert [r.id for r in store.recent_predictions(0.0)] == ["a", "b", "c"]
    assert [r.id for r in store.recent_predictions(0.0, limit=2)] == ["b", "c"]
    assert store.labelled_features(0.0) == [({"x": 2.0, "color": "blue"}, "no")]
    assert store.stats().predictions == 3
    assert store.purge(older_than=100.0) == 3
    assert store.stats().predictions == 0 and store.stats().labels == 0


def test_store_large_batch_keeps_every_row_in_order(store: PredictionStore) -> None:
    n = 300  # more rows than one insert statement takes
    ids = new_ids(n)
    values = np.arange(n, dtype=np.float64)
    rows = PredictionBatch(ids, 5.0, "reg", "1", {"x": values}, values * 2.0)
    store.write([rows], [LabelItem(ids[-1], 1.0, 6.0)], now=6.0)
    # a later batch repeating two ids keeps the first rows for them
    again = PredictionBatch([ids[0], "new"], 7.0, "reg", "1", {"x": values[:2]}, values[:2])
    store.write([again], [], now=7.0)
    got = store.recent_predictions(0.0)
    assert [r.id for r in got] == [*ids, "new"]
    assert [r.features["x"] for r in got[:n]] == values.tolist()
    assert [r.prediction for r in got[:n]] == (values * 2.0).tolist()
    assert got[-1].prediction == 1.0 and got[-1].confidence is None
    last = store.get(ids[-1])
    assert last is not None and (last.features, last.prediction, last.label) == (
        {"x": 299.0},
        598.0,
        1.0,
    )
    assert store.stats().predictions == n + 1


@pytest.mark.parametrize("n", [1, 15, 16, 17, 33, 255, 256, 257, 529])
def test_sqlite_store_keeps_every_row_of_any_size_once(tmp_path: Path, n: int) -> None:
    """A transaction's predictions go in statements of a few fixed sizes, the last one
    padded by repeating its last row: every row is stored once, in order, and a batch
    whose ids were all stored before leaves nothing behind."""
    with SQLiteStore(tmp_path / "p.sqlite3") as store:
        ids = new_ids(n)
        values = np.arange(n, dtype=np.float64)
        store.write([PredictionBatch(ids, 5.0, "reg", "1", {"x": values}, values + 0.5)], [], 6.0)
        mark = store.last_written
        store.write([PredictionBatch(ids, 7.0, "reg", "1", {"x": values}, values)], [], 8.0)
        assert store.last_written == mark
        got = store.recent_predictions(0.0)
        assert [r.id for r in got] == ids
        assert [r.prediction for r in got] == (values + 0.5).tolist()
        assert [r.features["x"] for r in got] == values.tolist()
        assert store.stats().predictions == n


def test_store_labelled_features_newest_first_limited(store: PredictionStore) -> None:
    store.write([record(f"p{i}", float(i), features={"x": float(i)}) for i in range(5)], [], 5.0)
    store.write([], [LabelItem(f"p{i}", "setosa", 6.0) for i in (0, 2, 3, 4)], now=6.0)
    rows = store.labelled_features(1.0, limit=2)
    assert rows == [({"x": 3.0}, "setosa"), ({"x": 4.0}, "setosa")]
    assert [f["x"] for f, _ in store.labelled_features(1.0)] == [2.0, 3.0, 4.0]


def test_store_failed_write_commits_nothing(store: PredictionStore) -> None:
    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        store.write(
            [record("ok", 1.0), record("bad", 2.0, features={"x": Unserialisable()})],
            [],
            now=2.0,
        )
    assert store.stats().predictions == 0
    store.write([record("ok", 1.0)], [], now=3.0)  # the store is usable afterwards
    assert store.stats().predictions == 1


def test_store_reads_from_another_thread_while_writing(store: PredictionStore) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                store.stats()
                store.recent_predictions(0.0, limit=10)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for batch in range(20):
            store.write([record(i, float(batch)) for i in new_ids(50)], [], now=float(batch))
    finally:
        stop.set()
        t.join(10)
    assert not errors
    assert store.stats().predictions == 1000


def test_new_ids_are_unique_and_time_ordered() -> None:
    first = new_ids(1000)
    time.sleep(0.002)
    second = new_ids(10)
    assert len(set(first + second)) == 1010
    assert max(first) < min(second)


_WRITER = textwrap.dedent(
    """
    import sys
    from inferwatch.store import PredictionRecord, SQLiteStore, new_ids

    store = SQLiteStore(sys.argv[1])
    features = {"x": 1.0, "c": "a"}
    for n in range(100_000):
        ids = new_ids(20)
        store.write(
            [PredictionRecord(i, float(n), "m", "1", features, "a", 0.5, [0.5, 0.5]) for i in ids],
            [],
            float(n),
        )
        sys.stdout.write("\\n".join(ids) + "\\n")
        sys.stdout.flush()
    """
)


def _acknowledged_then_killed(script: str, path: Path, enough: int) -> list[str]:
    """Run ``script`` on ``path`` until it has printed ``enough`` acknowledged ids, kill it
    with SIGKILL, and return every id it printed (those before the kill are acknowledged)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True
    )
    acknowledged: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while len(acknowledged) < enough and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acknowledged.append(line.strip())
        assert len(acknowledged) >= enough, "the writer stopped before acknowledging enough"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        acknowledged += [line.strip() for line in proc.stdout.read().splitlines() if line.strip()]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return acknowledged


def test_store_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite3"
    acknowledged = _acknowledged_then_killed(_WRITER, path, 2000)
    with SQLiteStore(path) as s:
        stored = {r.id for r in s.recent_predictions(0.0)}
    missing = [i for i in acknowledged if i not in stored]
    assert not missing, f"{len(missing)} acknowledged predictions lost"


_LABEL_WRITER = textwrap.dedent(
    """
    import sys
    from inferwatch.store import LabelItem, PredictionRecord, SQLiteStore, new_ids

    store = SQLiteStore(sys.argv[1])
    features = {"x": 1.0}
    for n in range(100_000):
        ids = new_ids(500)
        store.write([PredictionRecord(i, float(n), "m", "1", features, "a") for i in ids], [], n)
        outcomes = store.write([], [LabelItem(i, "b", float(n)) for i in ids], float(n))
        matched = [o.id for o in outcomes if o.outcome == "matched"]
        sys.stdout.write("\\n".join(matched) + "\\n")
        sys.stdout.flush()
    """
)


def test_store_acknowledged_labels_survive_kill_9(tmp_path: Path) -> None:
    """A label the store answered ``matched`` for is there after the writer is killed."""
    path = tmp_path / "l.sqlite3"
    acknowledged = _acknowledged_then_killed(_LABEL_WRITER, path, 5000)
    with SQLiteStore(path) as s:
        labelled = {r.id: r.label for r in s.recent_labels(0.0)}
    missing = [i for i in acknowledged if labelled.get(i) != "b"]
    assert not missing, f"{len(missing)} acknowledged labels lost"


def test_store_window_batches_as_columns_up_to_a_mark(store: PredictionStore) -> None:
    """What a restart replays: each stored batch as columns, in time order, of one model
    version, without the rows another batch stored first, and nothing after the mark."""
    batch = PredictionBatch(
        ["a", "b", "c"],
        10.0,
        "shop",
        "3",
        {"x": np.array([1.5, float("nan"), 3.0]), "color": np.array(["red", None, "blue"])},
        np.array(["yes", "no", "yes"], dtype=object),
        np.array([[0.2, 0.8], [0.7, 0.3], [0.4, 0.6]]),
    )
    store.write([record("b", 5.0, model="shop", model_version="3")], [], now=5.0)
    store.write([batch], [], now=10.0)
    store.write([record("z", 11.0, model="shop", model_version="2")], [], now=11.0)
    mark = store.last_batch()
    store.write([record("late", 12.0, model="shop", model_version="3")], [], now=12.0)

    got = list(store.window_batches(6.0, model="shop", model_version="3", upto=mark))
    assert len(got) == 1
    part = got[0]
    assert part.timestamp == 10.0
    assert part.predictions == ["yes", "yes"]  # "b" was stored before, by another batch
    assert part.features["x"] == [1.5, 3.0]
    assert part.features["color"] == ["red", "blue"]
    assert part.probabilities == [[0.2, 0.8], [0.4, 0.6]]
    everything = store.window_batches(0.0, model="shop", model_version="3")
    assert [p.predictions for p in everything] == [["setosa"], ["yes", "yes"], ["setosa"]]


def test_store_writes_commit_while_the_window_is_read(store: PredictionStore) -> None:
    """A restart reads the window while the service writes: the read holds no lock the writer
    needs, and sees the store as it was when the read began."""
    for i in range(3):
        store.write([record(f"p{i}", 10.0 + i)], [], now=10.0 + i)
    reading = store.window_batches(0.0, model="iris", model_version="1")
    first = next(reading)
    done = threading.Event()
    writer = threading.Thread(
        target=lambda: (store.write([record("new", 20.0)], [], now=20.0), done.set())
    )
    writer.start()
    assert done.wait(10), "the write waited for the read"
    rest = list(reading)
    assert [p.timestamp for p in [first, *rest]] == [10.0, 11.0, 12.0]
    assert store.get("new") is not None


def iris_rows(
    ids: list[str], predictions: list[str], ts: float = 5.0, labels: list[str | None] | None = None
) -> PredictionBatch:
    """Rows of model iris version 2, one feature ``x`` (1.0, 2.0, ...)."""
    x = np.arange(1.0, len(ids) + 1.0)
    preds = np.array(predictions, dtype=object)
    return PredictionBatch(ids, ts, "iris", "2", {"x": x}, preds, labels=labels)


def test_store_labels_of_rows_in_the_same_write_match_those_rows(store: PredictionStore) -> None:
    """Labels that name rows of the same write join them; a row whose id was stored before
    is not one of them: its label joins the prediction stored first."""
    store.write([record("old", 1.0, prediction="virginica")], [], now=1.0)
    rows = iris_rows(["n1", "n2", "old"], ["setosa", "versicolor", "setosa"])
    fresh_only = iris_rows(["n3"], ["setosa"])
    outcomes = store.write(
        [rows, fresh_only],
        [
            LabelItem("n1", "setosa", 5.0),
            LabelItem("old", "setosa", 5.0),
            LabelItem("n3", "virginica", 5.0),
            LabelItem("n3", "setosa", 5.0),
            LabelItem("gone", "setosa", 5.0),
        ],
        now=7.0,
    )
    seen = [(o.outcome, o.prediction, o.model_version, o.delay_seconds) for o in outcomes]
    assert seen == [
        ("matched", "setosa", "2", 2.0),
        ("matched", "virginica", "1", 6.0),  # the first prediction of "old" is the one kept
        ("matched", "setosa", "2", 2.0),
        ("duplicate", "setosa", "2", 2.0),
        ("unknown_id", None, None, None),
    ]
    n3 = store.get("n3")
    assert n3 is not None and n3.label == "virginica" and n3.delay_seconds == 2.0
    assert sorted((label.id, label.prediction) for label in store.recent_labels(0.0)) == [
        ("n1", "setosa"),
        ("n3", "setosa"),
        ("old", "virginica"),
    ]
    assert store.stats().labels == 3


def test_store_keeps_the_labels_that_come_with_the_rows(store: PredictionStore) -> None:
    """``PredictionBatch.labels`` (``/predict`` with ``labels``): stored with the rows in
    their transaction, as received at the write; a later label of the same id is a
    duplicate, a row sent without one can still get one. Rows merged into one blob keep
    their own labels."""
    labelled = iris_rows(
        ["a", "b", "c"], ["setosa", "versicolor", "setosa"], 10.0, ["setosa", None, "virginica"]
    )
    plain_rows = iris_rows(["d"], ["setosa"], 10.5)
    assert store.write([labelled, plain_rows], [], now=12.0) == []
    assert store.stats().labels == 2
    a, b, c = store.get("a"), store.get("b"), store.get("c")
    assert a is not None and b is not None and c is not None
    assert (a.label, a.delay_seconds, b.label, c.label) == ("setosa", 2.0, None, "virginica")
    got = sorted((x.id, x.prediction, x.label) for x in store.recent_labels(0.0))
    assert got == [("a", "setosa", "setosa"), ("c", "setosa", "virginica")]
    later = store.write(
        [], [LabelItem("a", "virginica", 13.0), LabelItem("b", "versicolor", 13.0)], now=13.0
    )
    assert [o.outcome for o in later] == ["duplicate", "matched"]
    assert store.stats().labels == 3


def test_store_refuses_labels_for_rows_stored_before(store: PredictionStore) -> None:
    """Labelled rows whose id another write stored first would label a prediction they did
    not make: the whole write fails, and nothing of it is kept."""
    store.write([record("old", 1.0, prediction="virginica")], [], now=1.0)
    rows = iris_rows(["new", "old"], ["setosa", "setosa"], labels=["setosa", "setosa"])
    with pytest.raises(LabelledRowsStored, match="1 of the labelled rows"):
        store.write([rows], [], now=6.0)
    assert store.get("new") is None
    assert store.stats().labels == 0 and store.stats().predictions == 1
    only_old = iris_rows(["old"], ["setosa"], labels=["setosa"])
    with pytest.raises(LabelledRowsStored, match="1 of the labelled rows"):
        store.write([only_old], [], now=6.0)
    assert store.stats().labels == 0


def test_store_labels_kept_with_their_rows_read_like_later_labels(store: PredictionStore) -> None:
    """Labels that came with their rows (kept in place on the rows) and labels that came
    later (``/feedback``) answer every reader alike: the labels received in a span (what a
    window snapshot checks), labels since a time (the restart's rebuild), the training rows
    for retraining, counts, and purge."""
    x = np.array([1.0, 2.0, 3.0])
    early = PredictionBatch(
        ["r1", "r2", "r3"],
        10.0,
        "house",
        "1",
        {"x": x},
        np.array([1.5, 2.5, 3.5]),
        labels=[1.0, None, 3.25],
    )
    store.write([early], [], now=11.0)
    store.write([record("p", 12.0, model="other")], [LabelItem("r2", 2.0, 13.0)], now=13.0)
    late = iris_rows(["s1", "s2"], ["setosa", "setosa"], 14.0, ["virginica", "setosa"])
    store.write([late], [LabelItem("p", "setosa", 15.0)], now=15.0)

    assert store.stats().labels == 6
    assert store.tally((0, 2**40), (10.5, 13.0)) == (6, 3)  # r1, r3 at 11; r2 at 13
    assert store.tally((0, 2**40), (13.0, 15.0))[1] == 3  # s1, s2 and p at 15
    since = [(x.id, x.label, x.received_at) for x in store.recent_labels(12.0)]
    assert since == [  # in the order received, then made
        ("r2", 2.0, 13.0),
        ("p", "setosa", 15.0),
        ("s1", "virginica", 15.0),
        ("s2", "setosa", 15.0),
    ]
    house = store.recent_labels(0.0, model="house")
    assert [(x.id, x.label, x.prediction, x.delay_seconds) for x in house] == [
        ("r1", 1.0, 1.5, 1.0),
        ("r3", 3.25, 3.5, 1.0),
        ("r2", 2.0, 2.5, 3.0),
    ]
    r3 = store.get("r3")
    assert r3 is not None and (r3.label, r3.label_timestamp, r3.delay_seconds) == (3.25, 10.0, 1.0)
    unlabelled = store.get("r2")  # labelled later: its own label's time and delay
    assert unlabelled is not None and (unlabelled.label, unlabelled.label_timestamp) == (2.0, 13.0)
    assert store.labelled_features(0.0, model="house") == [
        ({"x": 1.0}, 1.0),
        ({"x": 2.0}, 2.0),
        ({"x": 3.0}, 3.25),
    ]
    assert store.labelled_features(0.0, model="house", limit=2) == [
        ({"x": 2.0}, 2.0),
        ({"x": 3.0}, 3.25),
    ]
    assert [label for _, label in store.labelled_features(12.0)] == [
        "setosa",
        "virginica",
        "setosa",
    ]

    assert store.purge(older_than=12.5) == 4  # the house rows and "p" go with their labels
    assert store.stats().labels == 2
    assert store.tally((0, 2**40), (0.0, 20.0))[1] == 2
    assert [x.id for x in store.recent_labels(0.0)] == ["s1", "s2"]


def test_store_migrates_a_file_of_schema_2_and_keeps_its_labels(tmp_path: Path) -> None:
    """A file written by the schema before labels were kept in place opens as the current
    schema: its labels stay where they were and count, and new ones of both kinds join."""
    path = tmp_path / "p.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0].sqlite)
    conn.execute(
        "INSERT INTO batches (id, ts, model, model_version, rows, ids, features) VALUES"
        " (1, 10.0, 'iris', '2', 2, '[\"a\",\"b\"]', ?)",
        (encode_features({"x": np.array([1.0, 2.0])}),),
    )
    conn.executemany(
        "INSERT INTO predictions VALUES (?, 1, ?, 'setosa', NULL)", [("a", 0), ("b", 1)]
    )
    conn.execute("INSERT INTO labels VALUES ('a', 'virginica', 11.0, 12.0, 2.0)")
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()
    with SQLiteStore(path) as s:
        assert s._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        a = s.get("a")
        assert a is not None and (a.label, a.delay_seconds) == ("virginica", 2.0)
        outcomes = s.write(
            [iris_rows(["c"], ["setosa"], 20.0, ["setosa"])],
            [LabelItem("a", "setosa", 21.0), LabelItem("b", "setosa", 21.0)],
            now=21.0,
        )
        assert [o.outcome for o in outcomes] == ["duplicate", "matched"]
        assert s.stats().labels == 3
        assert [x.id for x in s.recent_labels(0.0)] == ["a", "b", "c"]
