"""inferwatch in front of a real MLServer speaking the Open Inference Protocol (v2).

MLServer (and its scikit-learn runtime) runs from its own virtualenv, serving the example
models' joblib files on a free loopback port.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.support.mlserver import MLServerProcess
from tests.support.waiting import wait_until

from inferwatch.examples import load_example_frame


@pytest.fixture(scope="module")
def mlserver(
    tmp_path_factory: pytest.TempPathFactory, iris_model_dir: Path, cancer_model_dir: Path
) -> Iterator[MLServerProcess]:
    models = {"iris": iris_model_dir / "model.joblib", "cancer": cancer_model_dir / "model.joblib"}
    server = MLServerProcess(models, tmp_path_factory.mktemp("mlserver")).start()
    yield server
    server.stop()


def own_answer(server: MLServerProcess, name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What MLServer itself answers for ``rows`` (predict and predict_proba)."""
    columns = list(rows[0])
    inputs = []
    for c in columns:
        values = [r[c] for r in rows]
        text = isinstance(values[0], str)
        tensor: dict[str, Any] = {
            "name": c,
            "datatype": "BYTES" if text else "FP64",
            "shape": [len(values)],
            "data": values,
        }
        if text:
            tensor["parameters"] = {"content_type": "str"}
        inputs.append(tensor)
    body = {
        "inputs": inputs,
        "parameters": {"content_type": "pd"},
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    answer = httpx.post(f"{server.url}/v2/models/{name}/infer", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return {o["name"]: o for o in answer.json()["outputs"]}


def sample(name: str, n: int, seed: int) -> list[dict[str, Any]]:
    frame, _ = load_example_frame(name)
    records = frame.sample(n, replace=True, random_state=seed).to_dict("records")
    return [{k: (v if isinstance(v, str) else float(v)) for k, v in r.items()} for r in records]


def test_v2_upstream_answers_as_mlserver_does_and_drift_and_accuracy_move(
    mlserver: MLServerProcess, service: Callable[..., Any]
) -> None:
    svc = service(upstream_url=mlserver.url, upstream_protocol="v2", min_window_rows=100)
    assert svc.client.get("/readyz").status_code == 200

    rows = sample("iris", 20, seed=3)
    mine = svc.client.post("/predict", json={"instances": rows})
    assert mine.status_code == 200, mine.text
    theirs = own_answer(mlserver, "iris", rows)
    assert mine.json()["predictions"] == theirs["predict"]["data"]
    proba = np.asarray(theirs["predict_proba"]["data"]).reshape(20, 3)
    np.testing.assert_allclose(mine.json()["probabilities"], proba)

    drifted = sample("iris", 150, seed=4)
    for r in drifted:
        r["petal_width"] += 2.0
    answer = svc.client.post("/predict", json={"instances": drifted}).json()
    truth = ["setosa"] * len(answer["ids"])  # the drifted flowers are all labelled setosa
    labels = [{"id": i, "label": t} for i, t in zip(answer["ids"], truth, strict=True)]
    assert svc.client.post("/feedback", json={"labels": labels}).status_code == 200

    def moved() -> bool:
        snap = svc.state.snapshot()
        drift = {f.name: f.drift_detected for f in snap.features}
        return bool(drift["petal_width"]) and snap.performance.labels == len(labels)

    wait_until(moved, timeout=15, what="drift and labels in the monitor")
    snap = svc.state.snapshot()
    expected = float(np.mean(np.asarray(answer["predictions"]) == "setosa"))
    assert snap.performance.accuracy == pytest.approx(expected)
    assert expected < 0.5  # the drifted rows fool the model: accuracy falls


def test_categorical_columns_go_as_bytes_tensors(
    mlserver: MLServerProcess, service: Callable[..., Any], cancer_model_dir: Path
) -> None:
    svc = service(model_dir=cancer_model_dir, upstream_url=mlserver.url, upstream_protocol="v2")
    rows = sample("cancer", 8, seed=5)
    mine = svc.client.post("/predict", json={"instances": rows})
    assert mine.status_code == 200, mine.text
    theirs = own_answer(mlserver, "cancer", rows)
    assert mine.json()["predictions"] == [str(p) for p in theirs["predict"]["data"]]


def test_mlserver_going_down_gives_502_then_recovers(
    mlserver: MLServerProcess, service: Callable[..., Any]
) -> None:
    svc = service(upstream_url=mlserver.url, upstream_protocol="v2")
    row = sample("iris", 1, seed=6)[0]
    assert svc.client.post("/predict", json=row).status_code == 200
    mlserver.stop()
    down = svc.client.post("/predict", json=row)
    assert down.status_code == 502
    assert down.json()["error_type"] == "upstream"
    assert svc.client.get("/readyz").status_code == 503
    mlserver.start()
    assert svc.client.post("/predict", json=row).status_code == 200
    assert svc.client.get("/readyz").status_code == 200
