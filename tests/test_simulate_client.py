"""The traffic engine against a small recording HTTP service on 127.0.0.1: it paces itself,
stops by itself, sends the bad requests and the delayed labels it promises."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from inferwatch.simulate import ExampleData, Timeline, TrafficConfig, TrafficEngine


@dataclass
class Recorder:
    predict_bodies: list[bytes] = field(default_factory=list)
    auth: set[str | None] = field(default_factory=set)
    answered: dict[str, str] = field(default_factory=dict)
    """Prediction id to the class the fake model answered."""
    labels: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    issued_at: dict[str, float] = field(default_factory=dict)


def _recording_app(recorder: Recorder) -> FastAPI:
    app = FastAPI()
    counter = iter(range(10**9))

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        body = await request.body()
        recorder.predict_bodies.append(body)
        recorder.auth.add(request.headers.get("authorization"))
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"detail": "body is not JSON"}, status_code=400)
        rows = payload.get("instances", [payload])
        ids, predictions = [], []
        for row in rows:
            valid = set(row) == {"x", "colour"} and isinstance(row["x"], float)
            if not valid or not math.isfinite(row["x"]) or row["colour"] not in {"red", "blue"}:
                return JSONResponse({"detail": "bad row"}, status_code=422)
            pred_id = f"p{next(counter)}"
            predicted = "high" if row["x"] > 0 else "low"
            recorder.answered[pred_id] = predicted
            recorder.issued_at[pred_id] = time.monotonic()
            ids.append(pred_id)
            predictions.append(predicted)
        return JSONResponse(
            {"ids": ids, "predictions": predictions, "probabilities": None, "model": "m"}
        )

    @app.post("/feedback")
    async def feedback(request: Request) -> JSONResponse:
        payload = await request.json()
        now = time.monotonic()
        recorder.labels.extend((now, item) for item in payload["labels"])
        return JSONResponse({"matched": len(payload["labels"])})

    return app


@pytest.fixture
def service() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(_recording_app(recorder), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", recorder
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def data() -> ExampleData:
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 1.0, 200)
    frame = pd.DataFrame({"x": x, "colour": rng.choice(["red", "blue"], size=200)})
    return ExampleData.from_frame(frame, pd.Series(np.where(x > 0, "high", "low")))


def test_engine_stops_at_the_end_of_its_timeline_and_paces_requests(
    service: tuple[str, Recorder], data: ExampleData
) -> None:
    url, recorder = service
    config = TrafficConfig(url=url, rate=20.0, concurrency=4, seed=1, token="s3cret")
    engine = TrafficEngine(config, data)
    stats = asyncio.run(engine.run(Timeline.single("normal", 1.5)))
    # 20 rps for 1.5 s: about 30 requests, never a burst beyond the schedule
    assert 10 <= stats.sent <= 32
    assert stats.sent == len(recorder.predict_bodies) == stats.ok
    assert recorder.auth == {"Bearer s3cret"}
    assert stats.client_errors == stats.server_errors == 0


def test_engine_sends_delayed_labels_for_the_covered_share(
    service: tuple[str, Recorder], data: ExampleData
) -> None:
    url, recorder = service
    config = TrafficConfig(
        url=url,
        rate=40.0,
        batch_size=5,
        seed=2,
        noise=0.0,
        label_delay=0.4,
        label_coverage=0.5,
    )
    stats = asyncio.run(TrafficEngine(config, data).run(Timeline.single("normal", 2.0)))
    answered = len(recorder.answered)
    assert answered == stats.rows > 100
    delivered = len(recorder.labels)
    assert delivered == stats.labels_sent
    assert delivered + stats.labels_dropped == pytest.approx(answered * 0.5, rel=0.25)
    for arrived, item in recorder.labels:
        assert arrived - recorder.issued_at[item["id"]] >= 0.4
        # the model here is always right, so normal traffic's labels agree with it
        assert item["label"] == recorder.answered[item["id"]]


def test_accuracy_drop_labels_disagree_with_the_service_answers(
    service: tuple[str, Recorder], data: ExampleData
) -> None:
    url, recorder = service
    config = TrafficConfig(url=url, rate=40.0, batch_size=5, seed=3, label_delay=0, flip_rate=0.6)
    asyncio.run(TrafficEngine(config, data).run(Timeline.single("accuracy_drop", 1.5)))
    labels = [item for _, item in recorder.labels]
    assert len(labels) > 50
    disagree = np.mean([item["label"] != recorder.answered[item["id"]] for item in labels])
    assert 0.4 < disagree < 0.8


def test_errors_scenario_sends_refused_requests(
    service: tuple[str, Recorder], data: ExampleData
) -> None:
    url, _ = service
    config = TrafficConfig(url=url, rate=40.0, seed=4, error_share=0.5, label_delay=0)
    stats = asyncio.run(TrafficEngine(config, data).run(Timeline.single("errors", 1.5)))
    assert stats.bad_requests > 10
    # every malformed body is refused by this strict service, every good one answered
    assert stats.client_errors == stats.bad_requests
    assert stats.ok == stats.sent - stats.bad_requests


def test_high_load_ramps_the_request_rate(service: tuple[str, Recorder], data: ExampleData) -> None:
    url, _ = service
    config = TrafficConfig(url=url, rate=10.0, concurrency=2, load_factor=4.0, seed=5)
    stats = asyncio.run(TrafficEngine(config, data).run(Timeline.single("high_load", 2.0)))
    # a flat 10 rps would send about 20; the ramp to 40 rps sends clearly more
    assert stats.sent > 35
