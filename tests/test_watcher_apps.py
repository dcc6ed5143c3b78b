"""The embedding API inside apps of the test's own: the FastAPI and Flask examples of
docs/integrations.md, run exactly as written there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.support.waiting import wait_until

from inferwatch.lifecycle.examples import load_example_frame
from inferwatch.store import SQLiteStore

DOC = Path(__file__).resolve().parent.parent / "docs" / "integrations.md"


def example(name: str) -> str:
    match = re.search(rf"<!-- example: {name} -->\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"docs/integrations.md has no {name} example"
    return match.group(1)


def load_app(
    name: str, model_dir: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setenv("MODEL_DIR", str(model_dir))
    monkeypatch.setenv("STORE_URL", f"sqlite:///{store}")
    namespace: dict[str, Any] = {"__name__": f"example_{name}"}
    exec(compile(example(name), f"docs/integrations.md:{name}", "exec"), namespace)
    return namespace


def metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise AssertionError(f"{name} {labels} not in the metrics")


def rows(drift: bool) -> list[dict[str, float]]:
    frame, _ = load_example_frame("iris")
    sample = frame.sample(240, replace=True, random_state=1).reset_index(drop=True)
    if drift:
        sample["petal_length"] = sample["petal_length"] + 3.0
    return [{k: float(v) for k, v in r.items()} for r in sample.to_dict("records")]


def exercise(post: Any, get: Any, store: Path) -> None:
    """Drifted traffic, then labels: drift, accuracy and the store all show it."""
    ids: list[str] = []
    predictions: list[str] = []
    batch = rows(drift=True)
    for start in range(0, len(batch), 60):
        answer = post("/predict", {"rows": batch[start : start + 60]})
        ids += answer["ids"]
        predictions += answer["predictions"]
    # labels: another class than half the predictions
    other = {"setosa": "virginica", "versicolor": "setosa", "virginica": "versicolor"}
    labels = [p if i % 2 else other[p] for i, p in enumerate(predictions)]
    outcomes = post("/feedback", {"ids": ids, "labels": labels})["outcomes"]
    assert outcomes == ["matched"] * len(ids)
    again = post("/feedback", {"ids": [ids[0], "nope"], "labels": labels[:2]})
    assert again["outcomes"] == ["duplicate", "unknown_id"]

    text = get("/metrics")
    assert metric(text, "inferwatch_window_rows", model="iris") == len(batch)
    detected = metric(
        text, "inferwatch_feature_drift_detected", model="iris", feature="petal_length"
    )
    assert detected == 1.0
    assert metric(text, "inferwatch_model_accuracy_ratio", model="iris") == pytest.approx(0.5)
    with SQLiteStore(store) as kept:
        stored = kept.get(ids[3])
        assert stored is not None and stored.label == labels[3]
        assert stored.features["petal_length"] == pytest.approx(batch[3]["petal_length"])


def test_fastapi_app_with_an_embedded_watcher(
    iris_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import threading

    import httpx
    import uvicorn

    store = tmp_path / "fastapi.db"
    ns = load_app("fastapi", iris_model_dir, store, monkeypatch)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(ns["app"], log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=20)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        with httpx.Client(base_url=url, timeout=30) as client:

            def post(path: str, body: Any) -> Any:
                answer = client.post(path, json=body)
                assert answer.status_code == 200, answer.text
                return answer.json()

            exercise(post, lambda path: client.get(path).text, store)
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
    ns["watcher"].close()


def test_flask_app_with_an_embedded_watcher(
    iris_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "flask.db"
    ns = load_app("flask", iris_model_dir, store, monkeypatch)
    client = ns["app"].test_client()

    def post(path: str, body: Any) -> Any:
        answer = client.post(path, json=body)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.get_json()

    exercise(post, lambda path: client.get(path).get_data(as_text=True), store)
    ns["watcher"].close()


def test_watcher_refuses_bad_logs_naming_the_field(iris_model_dir: Path, tmp_path: Path) -> None:
    from inferwatch import LogRejected, Watcher

    with Watcher.from_model_dir(iris_model_dir, store_url=tmp_path / "w.db") as watcher:
        row = rows(drift=False)[0]
        with pytest.raises(LogRejected, match=r"predictions\[0\]"):
            watcher.log([row], ["tulip"])
        with pytest.raises(LogRejected, match="probabilities"):
            watcher.log([row], ["setosa"], [[0.5, 0.5]])
        with pytest.raises(LogRejected, match="ids"):
            watcher.log([row, row], ["setosa", "setosa"], ids=["a", "a"])
        assert watcher.store.stats().predictions == 0
        ids = watcher.log({k: np.array([v]) for k, v in row.items()}, ["setosa"], ids=["mine"])
        assert ids == ["mine"]
        assert watcher.feedback(["mine"], ["setosa"]) == ["matched"]


def test_watcher_logs_labels_known_already_with_the_rows(
    iris_model_dir: Path, tmp_path: Path
) -> None:
    """``Watcher.log(..., labels=...)`` (a backtest): a list, or a pandas Series whose NaN
    means no label; checked like feedback, kept with the rows, in the accuracy window and
    the feedback counts. ``feedback`` judges each label alone: a label that is not a class
    is ``invalid`` and stored nowhere."""
    import pandas as pd

    from inferwatch import LogRejected, Settings, Watcher

    sample = load_example_frame("iris")[0].head(4).to_dict(orient="records")
    settings = Settings(min_labels=1)
    with Watcher.from_model_dir(
        iris_model_dir, store_url=tmp_path / "w.db", settings=settings
    ) as watcher:
        with pytest.raises(LogRejected, match=r"labels\[1\]: 'tulip' is not one of"):
            watcher.log(sample[:2], ["setosa", "setosa"], labels=["setosa", "tulip"])
        with pytest.raises(LogRejected, match="labels: expected a list of 2"):
            watcher.log(sample[:2], ["setosa", "setosa"], labels=["setosa"])
        assert watcher.store.stats().predictions == 0
        ids = watcher.log(sample[:2], ["setosa", "virginica"], labels=["setosa", "setosa"])
        series = pd.Series(["versicolor", float("nan")])
        more = watcher.log(sample[2:], ["versicolor", "setosa"], labels=series)
        assert watcher.store.stats().labels == 3
        assert watcher.monitor.snapshot(watcher.clock()).performance.accuracy == pytest.approx(
            2 / 3
        )
        assert watcher.feedback([ids[0], more[1], more[1]], ["setosa", "tulip", "setosa"]) == [
            "duplicate",
            "invalid",
            "matched",
        ]
        counted = {k: n for k, n in watcher.totals.feedback.items() if n}
        assert counted == {"matched": 4, "duplicate": 1, "invalid": 1}
        with pytest.raises(LogRejected, match="ids: 1 of the labelled rows"):
            watcher.log(sample[:1], ["setosa"], ids=[ids[0]], labels=["setosa"])
