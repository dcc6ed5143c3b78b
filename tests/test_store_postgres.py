"""What only a shared PostgreSQL store does: replicas that see each other's rows, schema
steps taken once, a password that never shows, and an outage the store survives."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferwatch.store import (
    LabelItem,
    PredictionBatch,
    PredictionRecord,
    StoreError,
    StoreUnavailable,
    new_ids,
    open_store,
)
from inferwatch.store.codec import encode_features
from inferwatch.store.migrations import MIGRATIONS, SCHEMA_VERSION

FEATURES = {"x": 1.0, "c": "red"}


def record(pid: str, ts: float, prediction: str = "a") -> PredictionRecord:
    return PredictionRecord(pid, ts, "m", "1", FEATURES, prediction, 0.8, [0.8, 0.2])


def test_a_label_finds_the_prediction_another_replica_stored(postgres_cluster: Any) -> None:
    url, pw = postgres_cluster.new_database(), postgres_cluster.password_file
    with open_store(url, password_file=pw) as a, open_store(url, password_file=pw) as b:
        ids = new_ids(40)
        a.write([record(i, 1.0) for i in ids[:20]], [], now=1.0)
        b.write([record(i, 1.0, "b") for i in ids[20:]], [], now=1.0)
        # every label goes to the replica that did not serve the prediction
        out_b = b.write([], [LabelItem(i, "a", 2.0) for i in ids[:20]], now=2.0)
        out_a = a.write([], [LabelItem(i, "b", 2.0) for i in ids[20:]], now=2.0)
        assert {o.outcome for o in out_a + out_b} == {"matched"}
        assert [o.prediction for o in out_a] == ["b"] * 20
        assert a.stats().labels == b.stats().labels == 40


def test_the_same_label_sent_to_two_replicas_at_once_is_kept_once(postgres_cluster: Any) -> None:
    url, pw = postgres_cluster.new_database(), postgres_cluster.password_file
    with open_store(url, password_file=pw) as a, open_store(url, password_file=pw) as b:
        ids = new_ids(200)
        a.write([record(i, 1.0) for i in ids], [], now=1.0)
        results: dict[str, list[Any]] = {}
        barrier = threading.Barrier(2)

        def send(name: str, store: Any) -> None:
            barrier.wait()
            results[name] = store.write([], [LabelItem(i, "a", 2.0) for i in ids], now=2.0)

        threads = [threading.Thread(target=send, args=(n, s)) for n, s in (("a", a), ("b", b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for i, (x, y) in enumerate(zip(results["a"], results["b"], strict=True)):
            assert sorted([x.outcome, y.outcome]) == ["duplicate", "matched"], ids[i]
        assert a.stats().labels == 200


def test_replicas_opening_together_migrate_once(postgres_cluster: Any) -> None:
    url, pw = postgres_cluster.new_database(), postgres_cluster.password_file
    stores: list[Any] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(open_store(url, password_file=pw))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert not errors and len(stores) == 4
        postgres_cluster.psql(
            f"UPDATE inferwatch_schema SET version = {SCHEMA_VERSION + 1}", url.rsplit("/", 1)[1]
        )
        with pytest.raises(StoreError, match=f"schema {SCHEMA_VERSION + 1}"):
            open_store(url, password_file=pw)
    finally:
        for s in stores:
            s.close()


def test_a_database_of_schema_2_takes_the_next_steps_and_keeps_its_labels(
    postgres_cluster: Any,
) -> None:
    """A database written before labels were kept in place: every replica that opens it
    finds its labels, and labels of both kinds join as before."""
    url, pw = postgres_cluster.new_database(), postgres_cluster.password_file
    db = url.rsplit("/", 1)[1]
    blob = encode_features({"x": np.array([1.0, 2.0])}).hex()
    postgres_cluster.psql(
        MIGRATIONS[0].postgres + "; CREATE TABLE inferwatch_schema (version INTEGER NOT NULL);"
        " INSERT INTO inferwatch_schema VALUES (2);"
        " INSERT INTO batches (id, ts, model, model_version, rows, ids, features)"
        f" VALUES (1, 10.0, 'm', '1', 2, ARRAY['a', 'b'], '\\x{blob}');"
        " INSERT INTO predictions (id, batch, pos, prediction_text) VALUES"
        " ('a', 1, 0, 'x'), ('b', 1, 1, 'y');"
        " INSERT INTO labels (id, label_text, ts, received, delay) VALUES"
        " ('a', 'y', 11.0, 12.0, 2.0);"
        " SELECT setval(pg_get_serial_sequence('batches', 'id'), 1)",
        db,
    )
    with open_store(url, password_file=pw) as s:
        a = s.get("a")
        assert a is not None and (a.label, a.delay_seconds) == ("y", 2.0)
        labelled = PredictionBatch(
            ["c"],
            20.0,
            "m",
            "1",
            {"x": np.array([1.0])},
            np.array(["x"], dtype=object),
            labels=["x"],
        )
        outcomes = s.write(
            [labelled], [LabelItem("a", "x", 21.0), LabelItem("b", "x", 21.0)], now=21.0
        )
        assert [o.outcome for o in outcomes] == ["duplicate", "matched"]
        assert s.stats().labels == 3
        assert [x.id for x in s.recent_labels(0.0)] == ["a", "b", "c"]


def test_a_database_of_another_program_is_refused(postgres_cluster: Any) -> None:
    url = postgres_cluster.new_database()
    postgres_cluster.psql("CREATE TABLE labels (x int)", url.rsplit("/", 1)[1])
    with pytest.raises(StoreError, match=r"another program.*labels"):
        open_store(url, password_file=postgres_cluster.password_file)


def test_the_password_never_shows(postgres_cluster: Any, tmp_path: Path) -> None:
    secret = postgres_cluster.password
    url = postgres_cluster.new_database().replace("inferwatch@", f"inferwatch:{secret}@")
    with open_store(url) as s:  # the password in the URL itself works ...
        assert secret not in repr(s) and secret not in str(s)  # ... and is never printed
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password-" + secret[:4] + "\n")
    with pytest.raises(StoreError) as info:
        open_store(url.replace(secret, "x" * 12), password_file=wrong)
    assert "not-the-password" not in str(info.value) and "x" * 12 not in str(info.value)


def test_an_outage_fails_writes_at_once_and_the_store_recovers(postgres_cluster: Any) -> None:
    url, pw = postgres_cluster.new_database(), postgres_cluster.password_file
    with open_store(url, password_file=pw) as s:
        s.write([record("before", 1.0)], [], now=1.0)
        postgres_cluster.stop("immediate")
        try:
            with pytest.raises(StoreUnavailable):
                s.write([record("during", 2.0)], [], now=2.0)
            assert not s.writable()
        finally:
            postgres_cluster.start()
        # the same store object works again: no restart of the service needed
        [outcome] = s.write([record("after", 3.0)], [LabelItem("before", "a", 3.0)], now=3.0)
        assert outcome.outcome == "matched" and s.writable()
        assert [r.id for r in s.recent_predictions(0.0)] == ["before", "after"]


def test_existing_ids_finds_client_ids_another_replica_stored(postgres_cluster: Any) -> None:
    url, pw = postgres_cluster.new_database(), postgres_cluster.password_file
    with open_store(url, password_file=pw) as a, open_store(url, password_file=pw) as b:
        a.write([record("dev7-001", 1.0), record("dev7-002", 1.0)], [], now=1.0)
        found = b.existing_ids(["dev7-002", "dev7-003", "dev7-001"])
        assert sorted(found) == ["dev7-001", "dev7-002"]
        assert b.existing_ids(["dev7-009"]) == []
