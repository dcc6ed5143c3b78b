"""Two models in one service (``--models-dir``): routes per model, labels by id wherever the
prediction came from, metrics labelled per model, v2 by name."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from tests.support.waiting import wait_until

from inferwatch.lifecycle.examples import load_example_frame

IRIS = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def sample(name: str, n: int) -> list[dict[str, Any]]:
    frame, _ = load_example_frame(name)
    records = frame.head(n).to_dict("records")
    return [{k: (v if isinstance(v, str) else float(v)) for k, v in r.items()} for r in records]


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` with these labels."""
    values = [
        float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert values, f"{name} {labels} not exported"
    return sum(values)


def test_two_models_in_one_service(
    service: Callable[..., Any], iris_model_dir: Path, cancer_model_dir: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(iris_model_dir, models / "iris")
    shutil.copytree(cancer_model_dir, models / "cancer")
    svc = service(models_dir=models, min_labels=1)
    client = svc.client

    listed = client.get("/api/models").json()["models"]
    assert sorted(m["name"] for m in listed) == ["cancer", "iris"]
    page = client.get("/dashboard", follow_redirects=True)
    assert page.status_code == 200 and 'id="model-picker"' in page.text
    assert str(page.url).endswith("/models/cancer/dashboard")
    assert client.get("/models/iris/dashboard/static/dashboard.js").status_code == 200
    assert client.get("/readyz").json()["models"] == {"cancer": True, "iris": True}

    iris = client.post("/models/iris/predict", json={"instances": [IRIS, IRIS]}).json()
    assert iris["model"] == "iris" and len(iris["ids"]) == 2
    rows = sample("cancer", 3)
    cancer = client.post("/models/cancer/predict", json={"instances": rows}).json()
    assert cancer["model"] == "cancer"
    logged = client.post(
        "/models/cancer/log", json={"rows": rows[:1], "predictions": ["benign"], "ids": ["c-9"]}
    )
    assert logged.status_code == 200, logged.text
    v2 = {
        "inputs": [
            {"name": n, "shape": [1], "datatype": "FP64", "data": [v]} for n, v in IRIS.items()
        ]
    }
    inferred = client.post("/v2/models/iris/infer", json=v2)
    assert inferred.status_code == 200, inferred.text
    assert client.post("/v2/models/nope/infer", json=v2).status_code == 404

    # labels for both models in one request, by the ids each answer gave
    labels = [
        {"id": iris["ids"][0], "label": iris["predictions"][0]},
        {"id": iris["ids"][1], "label": "virginica"},
        {"id": cancer["ids"][0], "label": cancer["predictions"][0]},
        {"id": "c-9", "label": "benign"},
        {"id": "nobody", "label": "benign"},
    ]
    fed = client.post("/feedback", json={"labels": labels}).json()
    outcomes = [r["outcome"] for r in fed["results"]]
    assert outcomes == ["matched"] * 4 + ["unknown_id"]
    # sent again, asking for the unmatched only: positions in the request, whichever model
    again = client.post("/feedback?results=unmatched", json={"labels": labels[2:]}).json()
    assert [(r["index"], r["outcome"]) for r in again["results"]] == [
        (0, "duplicate"),
        (1, "duplicate"),
        (2, "unknown_id"),
    ]
    assert again["counts"] == {"duplicate": 2, "unknown_id": 1}
    refused = client.post("/feedback?results=everything", json={"labels": labels[:1]})
    assert refused.status_code == 422 and refused.json()["field"] == "results"

    def both_labelled() -> bool:
        text = client.get("/metrics").text
        return (
            metric(text, "inferwatch_labeled_predictions_total", model="iris") == 2
            and metric(text, "inferwatch_labeled_predictions_total", model="cancer") == 2
        )

    wait_until(both_labelled, what="labels of both models in their own monitors")
    text = client.get("/metrics").text
    assert metric(text, "inferwatch_window_rows", model="iris") == 3
    assert metric(text, "inferwatch_window_rows", model="cancer") == 4
    assert metric(text, "inferwatch_model_accuracy_ratio", model="iris") == 0.5
    assert metric(text, "inferwatch_model_accuracy_ratio", model="cancer") == 1.0
    rows_iris = metric(text, "inferwatch_inference_rows_total", model="iris", model_version="1")
    assert rows_iris == 3
    assert metric(text, "inferwatch_feedback_total", model="iris", outcome="matched") == 2
    assert metric(text, "inferwatch_feedback_total", model="cancer", outcome="matched") == 2
    for model in ("iris", "cancer"):
        requests = metric(
            text, "inferwatch_http_requests_total", model=model, route="/predict", status_code="200"
        )
        assert requests == 1
