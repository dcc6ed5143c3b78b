"""The served Open Inference Protocol: requests shaped as KServe and Triton clients send
them, and an inferwatch speaking v2 to another inferwatch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ROWS = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3},
]


def test_health_metadata_and_readiness(service: Callable[..., Any]) -> None:
    svc = service()
    assert svc.client.get("/v2/health/live").json() == {"live": True}
    assert svc.client.get("/v2/health/ready").json() == {"ready": True}
    assert svc.client.get("/v2/models/iris/ready").status_code == 200
    meta = svc.client.get("/v2/models/iris").json()
    assert meta["name"] == "iris" and meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]] == list(ROWS[0])
    assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}
    assert meta["outputs"][1] == {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]}
    missing = svc.client.get("/v2/models/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


def test_infer_with_the_shapes_clients_send(service: Callable[..., Any]) -> None:
    svc = service()
    local = svc.client.post("/predict", json={"instances": ROWS}).json()

    # tritonclient.http: one tensor per input, shape [n, 1], flat data, outputs requested
    triton = {
        "inputs": [
            {"name": n, "shape": [2, 1], "datatype": "FP32", "data": [r[n] for r in ROWS]}
            for n in ROWS[0]
        ],
        "outputs": [{"name": "predict", "parameters": {"binary_data": False}}],
    }
    answer = svc.client.post("/v2/models/iris/infer", json=triton)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [o["name"] for o in body["outputs"]] == ["predict"]
    assert body["outputs"][0]["data"] == local["predictions"]
    assert body["model_name"] == "iris" and len(body["parameters"]["ids"]) == 2

    # the KServe python client / sklearn examples: one 2-D tensor in feature order, with an id
    kserve = {
        "id": "req-7",
        "inputs": [
            {
                "name": "input-0",
                "shape": [2, 4],
                "datatype": "FP64",
                "data": [list(r.values()) for r in ROWS],
            }
        ],
    }
    body = svc.client.post("/v2/models/iris/versions/1/infer", json=kserve).json()
    assert body["id"] == "req-7"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["predict"]["data"] == local["predictions"]
    assert outputs["predict_proba"]["shape"] == [2, 3]
    assert len(outputs["predict_proba"]["data"]) == 6

    # labels by the ids the v2 answer gave
    labels = [{"id": i, "label": "setosa"} for i in body["parameters"]["ids"]]
    fed = svc.client.post("/feedback", json={"labels": labels})
    assert fed.json()["counts"] == {"matched": 2}

    bad = {"inputs": [{"name": "sepal_length", "shape": [1], "datatype": "FP64", "data": [1.0]}]}
    refused = svc.client.post("/v2/models/iris/infer", json=bad)
    assert refused.status_code == 422 and "sepal_width" in refused.json()["error"]
    wrong = svc.client.post("/v2/models/iris/versions/9/infer", json=kserve)
    assert wrong.status_code == 404


def test_an_inferwatch_in_front_of_another_speaking_v2(service: Callable[..., Any]) -> None:
    model = service()
    front = service(upstream_url=model.url, upstream_protocol="v2")
    assert front.client.get("/readyz").status_code == 200
    direct = model.client.post("/predict", json={"instances": ROWS}).json()
    fronted = front.client.post("/predict", json={"instances": ROWS}).json()
    assert fronted["predictions"] == direct["predictions"]
    assert fronted["probabilities"] == direct["probabilities"]


HOSTILE = [
    {},
    {"inputs": "x"},
    {"inputs": [1, 2]},
    {"inputs": [{"name": "input-0", "shape": [None], "data": [1.0]}]},
    {"inputs": [{"name": "input-0", "shape": {"a": 1}, "data": [1.0, 2.0]}]},
    {"inputs": [{"name": "input-0", "shape": [1, 4], "data": [[1, 2], [3]]}]},
    {"inputs": [{"name": "input-0", "shape": [1, 4], "data": [{"a": 1}]}]},
    {"inputs": [{"name": n, "shape": [1], "data": [[1.0, 2.0]]} for n in ROWS[0]]},
    {"inputs": [{"name": n, "shape": [1], "data": ["a"]} for n in ROWS[0]]},
    {"inputs": [{"name": n, "shape": [2], "data": [1.0]} for n in ROWS[0]], "outputs": 3},
]


def test_hostile_v2_bodies_get_a_4xx(service: Callable[..., Any]) -> None:
    svc = service()
    for body in HOSTILE:
        answer = svc.client.post("/v2/models/iris/infer", json=body)
        assert 400 <= answer.status_code < 500, (body, answer.status_code, answer.text)
        assert answer.json()["error"]
