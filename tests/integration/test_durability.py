"""Acknowledged means durable: kill -9 the service mid-traffic, restart, lose nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.waiting import wait_until

from inferwatch.examples import load_example_frame
from inferwatch.store import SQLiteStore

pytestmark = pytest.mark.integration


def test_acknowledged_predictions_and_labels_survive_kill_9(
    serve_process: Callable[..., Any], iris_model_dir: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    args = ["--model-dir", str(iris_model_dir), "--data-dir", str(data_dir)]
    env = {"INFERWATCH_MIN_LABELS": "10"}
    proc = serve_process(args, env=env)
    features, _ = load_example_frame("iris")
    rows = features.to_dict(orient="records")

    acked: dict[str, str] = {}  # prediction id -> prediction
    labelled: dict[str, str] = {}  # prediction id -> label, acknowledged "matched"
    lock = threading.Lock()
    stop = threading.Event()

    def predictor(worker: int) -> None:
        with httpx.Client(base_url=proc.url, timeout=10) as c:
            i = worker
            while not stop.is_set() and i < 10_000:
                batch = [rows[(i + k) % len(rows)] for k in range(1 + i % 3)]
                try:
                    r = c.post("/predict", json={"instances": batch})
                except httpx.TransportError:
                    return
                if r.status_code == 200:
                    body = r.json()
                    with lock:
                        acked.update(zip(body["ids"], body["predictions"], strict=True))
                i += 4

    def labeller() -> None:
        with httpx.Client(base_url=proc.url, timeout=10) as c:
            while not stop.is_set():
                with lock:
                    todo = [(k, v) for k, v in acked.items() if k not in labelled][:20]
                if not todo:
                    stop.wait(0.01)
                    continue
                items = [{"id": k, "label": v} for k, v in todo]
                try:
                    r = c.post("/feedback", json={"labels": items})
                except httpx.TransportError:
                    return
                if r.status_code == 200:
                    with lock:
                        for res, (k, v) in zip(r.json()["results"], todo, strict=True):
                            if res["outcome"] == "matched":
                                labelled[k] = v

    threads = [threading.Thread(target=predictor, args=(w,)) for w in range(4)]
    threads.append(threading.Thread(target=labeller))
    for t in threads:
        t.start()
    wait_until(lambda: len(acked) >= 300 and len(labelled) >= 100, timeout=60)
    proc.kill()  # SIGKILL while requests are in flight
    stop.set()
    for t in threads:
        t.join(30)

    with lock:
        acked_now, labelled_now = dict(acked), dict(labelled)
    with SQLiteStore(data_dir / "predictions.sqlite3") as store:
        missing = [pid for pid in acked_now if store.get(pid) is None]
        assert missing == []
        for pid, label in labelled_now.items():
            stored = store.get(pid)
            assert stored is not None and stored.label == label
        stored_predictions = store.stats().predictions
        stored_labels = store.stats().labels
    assert stored_predictions >= len(acked_now)

    # restart on the same data directory: the windows are rebuilt from the store
    again = serve_process(args, env=env)
    wait_until(lambda: httpx.get(again.url + "/readyz", timeout=10).status_code == 200)
    snap = httpx.get(again.url + "/api/snapshot", timeout=10).json()
    assert snap["window_rows"] == stored_predictions
    assert snap["performance"]["labels"] == stored_labels
    # every label agreed with its prediction
    assert snap["performance"]["accuracy"] == 1.0
    assert snap["service"]["rebuilt"] == {
        "predictions": stored_predictions,
        "labels": stored_labels,
    }
