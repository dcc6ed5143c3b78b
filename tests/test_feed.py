"""The writer (``Flusher``) and the monitor feed (``MonitorFeed``) on their own, no HTTP."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from tests.support.waiting import wait_until

from inferwatch.backends.local import LocalModelBackend
from inferwatch.core.monitor import MonitorConfig
from inferwatch.exporter import ServiceTotals
from inferwatch.lifecycle.modeldir import load_model_dir
from inferwatch.server.feed import MonitorFeed
from inferwatch.server.flusher import Flushed, Flusher, LabelJob, PredictionJob
from inferwatch.server.served import InferenceFamilies, ServedModel
from inferwatch.store import LabelItem, LabelOutcome, PredictionBatch, SQLiteStore, new_ids

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


@pytest.fixture(scope="module")
def versions(iris_model_dir: Path) -> tuple[ServedModel, ServedModel]:
    bundle = load_model_dir(iris_model_dir)
    families = InferenceFamilies(CollectorRegistry())
    one = ServedModel.build(
        bundle, LocalModelBackend(bundle), stage="test", config=MonitorConfig(), families=families
    )
    v2 = replace(bundle, metadata=bundle.metadata.model_copy(update={"version": "2"}))
    return one, one.promoted(v2, LocalModelBackend(v2), families)


def rows(served: ServedModel, n: int, t: float = 100.0) -> PredictionBatch:
    features = {name: np.full(n, 1.5) for name in FEATURES}
    preds = np.array(["setosa"] * n, dtype=object)
    info = served.info
    return PredictionBatch(new_ids(n), t, info.model, info.model_version, features, preds)


_LOOP = asyncio.new_event_loop()
"""Owns the futures of jobs handed to the feed directly (the feed never touches them)."""


def job(served: ServedModel, n: int) -> PredictionJob:
    return PredictionJob(rows(served, n), _LOOP.create_future(), served)


def fresh(served: ServedModel) -> ServedModel:
    """A served model with an empty monitor (the module fixture is shared)."""
    return served.promoted(served.bundle, served.backend, InferenceFamilies(CollectorRegistry()))


def test_flusher_commits_one_transaction_for_a_burst_and_hands_it_over(
    tmp_path: Path, versions: tuple[ServedModel, ServedModel]
) -> None:
    served = versions[0]
    store = SQLiteStore(tmp_path / "p.db")
    handed: list[Flushed] = []
    flusher = Flusher(store, handed.append, clock=lambda: 200.0)
    flusher.start()

    async def burst() -> list[LabelOutcome]:
        first, second = rows(served, 2), rows(served, 3)
        await asyncio.gather(
            flusher.submit_predictions(first, served), flusher.submit_predictions(second, served)
        )
        labels = [LabelItem(first.ids[0], "setosa", 150.0), LabelItem("nope", "setosa", 150.0)]
        return await flusher.submit_labels(labels, served)

    outcomes = asyncio.run(burst())
    flusher.stop()
    assert flusher.transactions == 2
    assert [o.outcome for o in outcomes] == ["matched", "unknown_id"]
    assert [sum(len(j.rows) for j in f.predictions) for f in handed] == [5, 0]
    assert [[o.outcome for o in outs] for _, outs in handed[1].outcomes] == [
        ["matched", "unknown_id"]
    ]
    assert store.stats().predictions == 5
    store.close()


def test_flusher_store_failure_reaches_every_request_and_hands_nothing_over(
    tmp_path: Path, versions: tuple[ServedModel, ServedModel]
) -> None:
    store = SQLiteStore(tmp_path / "p.db")
    handed: list[Flushed] = []
    flusher = Flusher(store, handed.append)
    flusher.start()
    store.close()

    async def one() -> BaseException | None:
        try:
            await flusher.submit_predictions(rows(versions[0], 1), versions[0])
        except Exception as exc:
            return exc
        return None

    assert asyncio.run(one()) is not None
    flusher.stop()
    assert handed == []


def test_feed_pools_until_full_and_drains_on_stop(
    versions: tuple[ServedModel, ServedModel],
) -> None:
    served = fresh(versions[0])
    feed = MonitorFeed(ServiceTotals(), lambda: 100.0, max_rows=4, linger=60.0)
    feed.start()
    feed.put(Flushed(100.0, [job(served, 2)]))
    feed.put(Flushed(100.0, [job(served, 2)]))  # 4 rows: full, fed without waiting
    wait_until(lambda: served.monitor.snapshot(100.0).window_rows == 4, what="full pool fed")
    assert feed.feeds == 1
    feed.put(Flushed(100.0, [job(served, 1)]))  # below the bound, linger a minute: held back
    feed.stop()  # ... until the stop drains it
    assert served.monitor.snapshot(100.0).window_rows == 5
    assert feed.feeds == 2


def test_feed_sends_rows_and_labels_to_their_own_version(
    versions: tuple[ServedModel, ServedModel],
) -> None:
    one, two = fresh(versions[0]), fresh(versions[1])
    totals = ServiceTotals()
    feed = MonitorFeed(totals, lambda: 100.0)
    labels = [
        LabelOutcome("a", "matched", "setosa", "setosa", "iris", "1", 90.0, 10.0),
        LabelOutcome("b", "matched", "setosa", "setosa", "iris", "2", 95.0, 5.0),
        LabelOutcome("c", "unknown_id", "setosa"),
    ]
    items = [LabelItem(o.id, "setosa", 99.0) for o in labels]
    label_job = LabelJob(items, _LOOP.create_future(), two)
    feed.feed([job(one, 3), job(two, 2), job(one, 1)], [(label_job.served, labels)])
    assert one.monitor.snapshot(100.0).window_rows == 4
    assert two.monitor.snapshot(100.0).window_rows == 2
    assert two.monitor.snapshot(100.0).totals.labeled[("setosa", "setosa")] == 1
    assert one.monitor.snapshot(100.0).totals.labeled[("setosa", "setosa")] == 0
    assert totals.feedback_delay.cumulative()[-1] == 2  # both matched delays are counted
    assert totals.feedback_delay.sum == 15.0


def test_steady_traffic_does_not_hold_the_pool_back(
    versions: tuple[ServedModel, ServedModel],
) -> None:
    """The linger counts from the pool's first transaction: rows arriving more often than
    the linger still reach the monitor while the traffic goes on, not only when it pauses."""
    import time

    served = fresh(versions[0])
    feed = MonitorFeed(ServiceTotals(), lambda: 100.0, max_rows=10_000, linger=0.2)
    feed.start()
    try:
        seen_during = 0
        for _ in range(100):  # one row every 20 ms for 2 s: never quiet for 0.2 s
            feed.put(Flushed(100.0, [job(served, 1)]))
            time.sleep(0.02)
            seen_during = served.monitor.snapshot(100.0).window_rows
        # far below the pool bound, yet fed while the rows kept coming
        assert seen_during > 0
    finally:
        feed.stop()
    assert served.monitor.snapshot(100.0).window_rows == 100
