"""A promotion lands while a request is being scored: the request keeps the version it read.

The answer, the stored row, the inference metrics and the monitor all name the version that
scored the row; the promoted version starts clean.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from tests.support.waiting import wait_until

from inferwatch.backends import ModelOutput
from inferwatch.backends.base import ModelInput
from inferwatch.backends.local import LocalModelBackend
from inferwatch.modeldir import ModelMetadata, load_model_dir

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


class GatedBackend:
    """The local model, but each call waits for ``gate`` after signalling ``entered``."""

    def __init__(self, inner: LocalModelBackend) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.gate = threading.Event()

    @property
    def metadata(self) -> ModelMetadata:
        return self.inner.metadata

    async def predict(self, frame: ModelInput) -> ModelOutput:
        self.entered.set()
        await asyncio.to_thread(self.gate.wait, 20)
        return await self.inner.predict(frame)

    async def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_promotion_during_a_request_leaves_the_row_with_the_version_that_scored_it(
    service: Callable[..., Any], iris_model_dir: Path
) -> None:
    bundle = load_model_dir(iris_model_dir)
    slow = GatedBackend(LocalModelBackend(bundle))
    svc = service(backend=slow)
    first = svc.state.served
    assert first.info.model_version == "1"

    answer: dict[str, httpx.Response] = {}
    request = threading.Thread(
        target=lambda: answer.setdefault("r", svc.client.post("/predict", json=ROW))
    )
    request.start()
    assert slow.entered.wait(20), "the request never reached the model"
    v2 = replace(bundle, metadata=bundle.metadata.model_copy(update={"version": "2"}))
    promoted = svc.state.promote(v2)
    slow.gate.set()
    request.join(30)

    r = answer["r"]
    assert r.status_code == 200
    assert r.json()["model_version"] == "1"
    stored = svc.state.store.get(r.json()["ids"][0])
    assert stored is not None and stored.model_version == "1"
    wait_until(lambda: first.monitor.snapshot(1e12).totals.rows == 1, what="row fed to v1")
    assert promoted.monitor.snapshot(1e12).totals.rows == 0
    assert svc.state.served is promoted

    metrics = svc.client.get("/metrics").text
    assert 'inferwatch_inference_rows_total{model="iris",model_version="1"} 1.0' in metrics
    assert 'inferwatch_inference_rows_total{model="iris",model_version="2"} 0.0' in metrics
    assert 'inferwatch_model_info{model="iris",model_version="2"' in metrics

    # labels measure the version that made the prediction: a label for the v1 row stays out
    # of v2's accuracy window, a label for a v2 row goes in
    old = svc.client.post("/feedback", json={"id": r.json()["ids"][0], "label": "setosa"})
    assert old.status_code == 200 and old.json()["results"][0]["outcome"] == "matched"
    new = svc.client.post("/predict", json=ROW).json()
    assert new["model_version"] == "2"
    svc.client.post("/feedback", json={"id": new["ids"][0], "label": "setosa"})
    assert svc.state.totals.feedback["matched"] == 2
    svc.stop()  # the feed drains its pool on the way out
    assert sum(promoted.monitor.snapshot(1e12).totals.labeled.values()) == 1
    assert sum(first.monitor.snapshot(1e12).totals.labeled.values()) == 0
