"""Each simulator scenario, played against the real service on 127.0.0.1, shows up in the
monitor as its own signal and nowhere else."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferwatch.simulate import ExampleData, Timeline, TrafficConfig, TrafficEngine, TrafficStats
from inferwatch.simulate.play import load_example_data, served_example

DRIFTED = ("mean_texture", "clinic")


@pytest.fixture(scope="module")
def data() -> ExampleData:
    return load_example_data("cancer")


@pytest.fixture
def url(service: Callable[..., Any], cancer_model_dir: Path) -> str:
    """The cancer example served on 127.0.0.1 with a two-minute window."""
    running = service(
        model_dir=cancer_model_dir,
        window_buckets=12,
        bucket_seconds=10.0,
        min_window_rows=100,
        min_labels=30,
    )
    return str(running.url)


def play(url: str, data: ExampleData, scenario: str, **options: Any) -> TrafficStats:
    config = TrafficConfig(
        url=url, rate=40.0, batch_size=10, concurrency=4, seed=11, label_delay=0.0, **options
    )
    engine = TrafficEngine(config, data)
    return asyncio.run(engine.run(Timeline.parse(f"{scenario}:3")))


def settled(url: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The snapshot once ``done`` holds (ingestion and label joins are asynchronous)."""
    deadline = time.monotonic() + 15.0
    while True:
        snap: dict[str, Any] = httpx.get(f"{url}/api/snapshot").json()
        if done(snap) or time.monotonic() > deadline:
            return snap
        time.sleep(0.1)


def drifted_features(snap: dict[str, Any]) -> set[str]:
    return {f["name"] for f in snap["features"] if f["drift_detected"]}


def psi(snap: dict[str, Any]) -> dict[str, float]:
    return {f["name"]: f["scores"]["psi"] for f in snap["features"]}


def metric_sum(url: str, name: str, label_filter: str = "") -> float:
    text = httpx.get(f"{url}/metrics").text
    pattern = re.compile(rf"^{name}\{{([^}}]*)\}} (\S+)$", re.MULTILINE)
    return sum(float(v) for labels, v in pattern.findall(text) if re.search(label_filter, labels))


def test_normal_traffic_raises_no_signal(url: str, data: ExampleData) -> None:
    stats = play(url, data, "normal")
    snap = settled(url, lambda s: s["performance"]["labels"] >= stats.labels_sent > 0)
    assert snap["window_rows"] == stats.rows > 500
    assert drifted_features(snap) == set()
    assert snap["performance"]["accuracy"] > 0.9
    assert metric_sum(url, "inferwatch_inference_errors_total") == 0


def test_drift_raises_the_drift_score_of_the_shifted_features_only(
    url: str, data: ExampleData
) -> None:
    stats = play(url, data, "drift", drift_features=DRIFTED, drift_mode="abrupt", drift_shift=2.0)
    snap = settled(url, lambda s: s["window_rows"] >= stats.rows)
    assert snap["window_rows"] == stats.rows > 500
    assert drifted_features(snap) == set(DRIFTED)
    scores = psi(snap)
    quiet = [name for name in scores if name not in DRIFTED]
    assert max(scores[name] for name in quiet) < 0.1
    assert min(scores[name] for name in DRIFTED) > 0.5
    # the drifted features matter little to the model: its accuracy holds
    snap = settled(url, lambda s: s["performance"]["labels"] >= stats.labels_sent)
    assert snap["performance"]["accuracy"] > 0.85
    assert metric_sum(url, "inferwatch_inference_errors_total") == 0


def test_errors_raise_error_counts_while_accuracy_and_drift_stay_put(
    url: str, data: ExampleData
) -> None:
    stats = play(url, data, "errors", error_share=0.4)
    assert stats.client_errors > 10
    assert stats.server_errors == 0
    snap = settled(url, lambda s: s["performance"]["labels"] >= stats.labels_sent > 0)
    refused = metric_sum(
        url, "inferwatch_http_requests_total", r'route="/predict".*status_code="4\d\d"'
    )
    assert refused == stats.client_errors
    assert metric_sum(url, "inferwatch_inference_errors_total") >= stats.client_errors
    assert snap["performance"]["accuracy"] > 0.9
    assert drifted_features(snap) == set()


def test_accuracy_drop_lowers_accuracy_while_drift_stays_quiet(url: str, data: ExampleData) -> None:
    stats = play(url, data, "accuracy_drop", flip_rate=0.5)
    snap = settled(url, lambda s: s["performance"]["labels"] >= stats.labels_sent > 0)
    assert snap["performance"]["labels"] == stats.labels_sent > 200
    assert 0.35 < snap["performance"]["accuracy"] < 0.65
    assert drifted_features(snap) == set()
    assert max(psi(snap).values()) < 0.1
    assert metric_sum(url, "inferwatch_inference_errors_total") == 0


def test_simulator_recognises_the_served_example(url: str) -> None:
    assert served_example(url) == "cancer"
    assert served_example("http://127.0.0.1:9") is None  # nothing listens on port 9
