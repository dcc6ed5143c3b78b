"""Log mode: ``POST /log`` with predictions made elsewhere, and KServe's inference logger
CloudEvents (v1 and v2 payloads, request or response first), with labels by id after."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from tests.support.waiting import wait_until

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
ROW2 = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
NAMES = list(ROW)
REQUEST = "org.kubeflow.serving.inference.request"
RESPONSE = "org.kubeflow.serving.inference.response"


def window_rows(svc: Any) -> int:
    return int(svc.state.snapshot().window_rows)


def labels_seen(svc: Any) -> int:
    return int(svc.state.snapshot().performance.labels)


def test_log_stores_watches_and_takes_labels_by_the_callers_ids(
    service: Callable[..., Any],
) -> None:
    svc = service(min_labels=1)
    body = {
        "rows": [ROW, ROW2],
        "predictions": ["setosa", "virginica"],
        "probabilities": [[0.9, 0.1, 0.0], [0.0, 0.2, 0.8]],
        "ids": ["order-1", "order-2"],
    }
    answer = svc.client.post("/log", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["ids"] == ["order-1", "order-2"]
    wait_until(lambda: window_rows(svc) == 2, what="logged rows in the monitor")

    fed = svc.client.post(
        "/feedback",
        json={
            "labels": [{"id": "order-1", "label": "setosa"}, {"id": "order-2", "label": "setosa"}]
        },
    )
    assert fed.json()["counts"] == {"matched": 2}
    wait_until(lambda: labels_seen(svc) == 2, what="labels in the monitor")
    assert svc.state.snapshot().performance.accuracy == 0.5

    again = svc.client.post("/log", json=body)
    assert again.status_code == 409 and again.json()["ids"] == ["order-1", "order-2"]
    plain = svc.client.post("/log", json={"rows": [ROW], "predictions": ["virginica"]})
    assert plain.status_code == 200 and len(plain.json()["ids"][0]) > 8
    metrics = svc.client.get("/metrics").text
    assert 'inferwatch_inference_rows_total{model="iris",model_version="1"} 3.0' in metrics


def test_log_keeps_labels_known_already_with_the_rows(service: Callable[..., Any]) -> None:
    """A backtest logs rows, predictions and their known ``labels`` in one request: checked
    as /feedback checks them (a bad one refuses the request, naming it, counted), kept
    with the rows, counted as matched feedback and in the accuracy window; a later label of
    such a row is a duplicate, a row logged without one can still get one."""
    svc = service(min_labels=1)
    body = {
        "rows": [ROW, ROW2, ROW2],
        "predictions": ["setosa", "virginica", "virginica"],
        "ids": ["bt-1", "bt-2", "bt-3"],
        "labels": ["setosa", "versicolor", "tulip"],
    }
    bad = svc.client.post("/log", json=body)
    assert bad.status_code == 422 and bad.json()["field"] == "labels[2]"
    assert "'tulip' is not one of the model's classes" in bad.json()["detail"]
    short = svc.client.post("/log", json={**body, "labels": ["setosa"]})
    assert short.status_code == 422 and short.json()["field"] == "labels"
    assert svc.state.store.stats().predictions == 0

    answer = svc.client.post("/log", json={**body, "labels": ["setosa", "versicolor", None]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["label_counts"] == {"matched": 2}
    wait_until(lambda: labels_seen(svc) == 2, what="labels in the monitor")
    assert svc.state.snapshot().performance.accuracy == 0.5
    later = svc.client.post(
        "/feedback",
        json={"labels": [{"id": "bt-1", "label": "setosa"}, {"id": "bt-3", "label": "virginica"}]},
    )
    assert [x["outcome"] for x in later.json()["results"]] == ["duplicate", "matched"]
    plain = svc.client.post("/log", json={"rows": [ROW], "predictions": ["setosa"]})
    assert "label_counts" not in plain.json()
    columns = {name: [ROW[name], ROW2[name]] for name in NAMES}  # another rows layout
    by_column = {"rows": columns, "predictions": ["setosa", "virginica"]}
    answer = svc.client.post("/log", json={**by_column, "labels": ["setosa", "virginica"]})
    assert answer.status_code == 200 and answer.json()["label_counts"] == {"matched": 2}
    metrics = {
        s.labels["outcome"]: s.value
        for family in text_string_to_metric_families(svc.client.get("/metrics").text)
        if family.name == "inferwatch_feedback"
        for s in family.samples
        if s.name == "inferwatch_feedback_total"
    }
    assert metrics == {"matched": 5.0, "duplicate": 1.0, "invalid": 2.0, "unknown_id": 0.0}


def test_log_refuses_bad_input_naming_the_field(service: Callable[..., Any]) -> None:
    svc = service()
    cases = [
        ({"rows": [ROW], "predictions": ["tulip"]}, "predictions[0]"),
        ({"rows": [ROW], "predictions": ["setosa", "setosa"]}, "predictions"),
        (
            {"rows": [ROW], "predictions": ["setosa"], "probabilities": [[2, 0, 0]]},
            "probabilities[0]",
        ),
        ({"rows": [ROW, ROW], "predictions": ["setosa"] * 2, "ids": ["a", "a"]}, "ids"),
        ({"rows": [{"sepal_length": 1.0}], "predictions": ["setosa"]}, "sepal_width"),
    ]
    for body, field in cases:
        answer = svc.client.post("/log", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["field"] == field
    assert window_rows(svc) == 0
    metrics = svc.client.get("/metrics").text
    assert 'error_type="validation",model="iris",model_version="1"} 5.0' in metrics


def event(svc: Any, ce_id: str, kind: str, body: Any) -> Any:
    headers = {
        "ce-id": ce_id,
        "ce-type": kind,
        "ce-source": "http://localhost:9081/",
        "ce-specversion": "1.0",
        "ce-inferenceservicename": "iris",
        "content-type": "application/json",
    }
    return svc.client.post("/log", content=json.dumps(body), headers=headers)


def v2_request(rows: list[dict[str, float]]) -> dict[str, Any]:
    data = [v for r in rows for v in r.values()]
    return {
        "inputs": [{"name": "input-0", "shape": [len(rows), 4], "datatype": "FP64", "data": data}]
    }


def test_kserve_logger_events_in_either_order_and_both_forms(service: Callable[..., Any]) -> None:
    svc = service(min_labels=1)
    # v1, request first: one row, its id is the ce-id
    first = event(svc, "a1", REQUEST, {"instances": [list(ROW.values())]})
    assert first.status_code == 202
    second = event(svc, "a1", RESPONSE, {"predictions": ["setosa"]})
    assert second.status_code == 200, second.text
    assert second.json()["ids"] == ["a1"]
    # v1, response first, two rows as objects, probabilities as predictions
    assert (
        event(svc, "b2", RESPONSE, {"predictions": [[0.9, 0.1, 0.0], [0.0, 0.1, 0.9]]}).status_code
        == 202
    )
    joined = event(svc, "b2", REQUEST, {"instances": [ROW, ROW2]})
    assert joined.json()["ids"] == ["b2-0", "b2-1"]
    # v2, response first then request
    outputs = {
        "model_name": "iris",
        "outputs": [
            {"name": "predict", "shape": [2], "datatype": "BYTES", "data": ["setosa", "versicolor"]}
        ],
    }
    assert event(svc, "c3", RESPONSE, outputs).status_code == 202
    assert event(svc, "c3", REQUEST, v2_request([ROW, ROW2])).json()["ids"] == ["c3-0", "c3-1"]
    # v2, request first, one tensor per feature
    named = {
        "inputs": [{"name": n, "shape": [1], "datatype": "FP64", "data": [ROW2[n]]} for n in NAMES]
    }
    assert event(svc, "d4", REQUEST, named).status_code == 202
    proba = {
        "outputs": [
            {"name": "predict_proba", "shape": [1, 3], "datatype": "FP64", "data": [0.1, 0.1, 0.8]}
        ]
    }
    assert event(svc, "d4", RESPONSE, proba).json()["ids"] == ["d4"]

    assert event(svc, "d4", REQUEST, named).status_code == 202  # the logger retries an event
    retried = event(svc, "d4", RESPONSE, proba)
    assert retried.status_code == 200 and retried.json()["duplicate"] is True
    wait_until(lambda: window_rows(svc) == 6, what="six logged rows in the monitor")
    predictions = svc.state.snapshot().totals.predictions
    assert predictions == {"setosa": 3, "versicolor": 1, "virginica": 2}
    labels = [{"id": i, "label": "virginica"} for i in ("a1", "b2-1", "c3-1", "d4")]
    fed = svc.client.post("/feedback", json={"labels": labels})
    assert fed.json()["counts"] == {"matched": 4}
    wait_until(lambda: labels_seen(svc) == 4, what="labels by ce-id in the monitor")
    assert svc.state.snapshot().performance.accuracy == 0.5

    assert event(svc, "x", "org.example.other", {}).status_code == 422


def test_a_log_only_model_directory_serves_log_and_refuses_predict(
    service: Callable[..., Any], iris_model_dir: Path, tmp_path: Path
) -> None:
    log_only = tmp_path / "iris-log-only"
    shutil.copytree(iris_model_dir, log_only)
    (log_only / "model.joblib").unlink()
    meta = json.loads((log_only / "metadata.json").read_text())
    (log_only / "metadata.json").write_text(json.dumps({**meta, "log_only": True}))
    svc = service(model_dir=log_only)
    refused = svc.client.post("/predict", json=ROW)
    assert refused.status_code == 409
    assert "POST /log" in refused.json()["detail"]
    assert svc.client.get("/readyz").status_code == 200
    logged = svc.client.post("/log", json={"rows": [ROW], "predictions": ["setosa"]})
    assert logged.status_code == 200


def test_hostile_log_bodies_and_events_get_a_4xx(service: Callable[..., Any]) -> None:
    svc = service()
    bodies: list[Any] = [
        [],
        {"rows": 5, "predictions": []},
        {"rows": [ROW], "predictions": None},
        {"rows": [ROW], "predictions": [["setosa"]]},
        {"rows": [ROW], "predictions": ["setosa"], "probabilities": "x"},
        {"rows": [ROW], "predictions": ["setosa"], "probabilities": [{"setosa": 1}]},
        {"rows": [ROW], "predictions": ["setosa"], "ids": [7]},
    ]
    for body in bodies:
        answer = svc.client.post("/log", json=body)
        assert 400 <= answer.status_code < 500, (body, answer.text)
    halves: list[tuple[Any, Any]] = [
        ({"instances": "x"}, {"predictions": ["setosa"]}),
        ({"instances": [[1.0]]}, {"predictions": ["setosa"]}),
        ({"inputs": [{"name": "input-0", "shape": [None], "data": [1]}]}, {"predictions": [1]}),
        ({"instances": [ROW]}, {"predictions": ["setosa", "setosa"]}),
        ({"instances": [ROW]}, {"outputs": [{"name": "predict", "data": "x"}]}),
        ({"instances": [ROW]}, [1, 2]),
    ]
    for i, (request, response) in enumerate(halves):
        assert event(svc, f"h{i}", REQUEST, request).status_code == 202
        answer = event(svc, f"h{i}", RESPONSE, response)
        assert 400 <= answer.status_code < 500, (request, response, answer.text)
    assert window_rows(svc) == 0


def test_unjoined_kserve_halves_are_exported_and_expire(service: Callable[..., Any]) -> None:
    """A request half whose response never comes waits (a gauge), and once older than five
    minutes is dropped and counted: rows the logger sent that were never watched show up."""
    svc = service()
    row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    for i in range(3):
        sent = event(svc, f"lost-{i}", REQUEST, {"instances": [list(row.values())]})
        assert sent.status_code == 202

    def figures() -> tuple[float, float]:
        text = svc.client.get("/metrics").text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        pending = families["inferwatch_kserve_events_pending"].samples[0].value
        dropped = families["inferwatch_kserve_events_dropped"].samples[0].value
        return pending, dropped

    assert figures() == (3.0, 0.0)
    real = svc.state.clock
    svc.state.clock = lambda: real() + 301.0  # five minutes on: the halves expired
    assert figures() == (0.0, 3.0)
    # a late response for an expired request waits on its own; nothing is stored
    assert event(svc, "lost-0", RESPONSE, {"predictions": ["setosa"]}).status_code == 202
    assert window_rows(svc) == 0
