"""A transaction that fails anyway costs only the request that caused it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from inferwatch.backends.local import LocalModelBackend
from inferwatch.core.monitor import MonitorConfig
from inferwatch.modeldir import load_model_dir
from inferwatch.server.flusher import Flushed, Flusher
from inferwatch.server.served import InferenceFamilies, ServedModel
from inferwatch.store import LabelItem, PredictionBatch, SQLiteStore, new_ids

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


class RefusingStore(SQLiteStore):
    """A real store that refuses any transaction carrying the poisoned prediction id."""

    poison = "poisoned-id"

    def write(self, batches: Sequence[Any], labels: Sequence[LabelItem], now: float) -> Any:
        if any(self.poison in list(b.ids) for b in batches):
            raise ValueError("cannot encode a value of the poisoned batch")
        return super().write(batches, labels, now)


def _rows(served: ServedModel, ids: list[str]) -> PredictionBatch:
    n = len(ids)
    features = {name: np.full(n, 1.5) for name in FEATURES}
    info = served.info
    preds = np.array(["setosa"] * n, dtype=object)
    return PredictionBatch(ids, 100.0, info.model, info.model_version, features, preds)


def test_a_failed_group_commit_is_retried_job_by_job(tmp_path: Path, iris_model_dir: Path) -> None:
    bundle = load_model_dir(iris_model_dir)
    served = ServedModel.build(
        bundle,
        LocalModelBackend(bundle),
        stage="test",
        config=MonitorConfig(),
        families=InferenceFamilies(CollectorRegistry()),
    )
    store = RefusingStore(tmp_path / "p.db")
    handed: list[Flushed] = []
    flusher = Flusher(store, handed.append, clock=lambda: 200.0)
    flusher.start()
    good = [new_ids(2) for _ in range(5)]

    async def burst() -> list[Any]:
        futures: list[Any] = [
            flusher.submit_predictions(_rows(served, ids), served) for ids in good
        ]
        futures.insert(2, flusher.submit_predictions(_rows(served, [RefusingStore.poison]), served))
        label = LabelItem(good[0][0], "setosa", 150.0)
        futures.append(flusher.submit_labels([label], served))
        return await asyncio.gather(*futures, return_exceptions=True)

    results = asyncio.run(burst())
    flusher.stop()
    assert isinstance(results[2], ValueError)
    others = results[:2] + results[3:]
    assert not any(isinstance(r, BaseException) for r in others), others
    assert [o.outcome for o in results[-1]] == ["matched"]
    assert store.stats().predictions == 10
    assert sum(len(j.rows) for f in handed for j in f.predictions) == 10
    store.close()
