"""/predict and /invocations over real HTTP: every accepted layout, ids, durability."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from inferwatch.store import SQLiteStore

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
ROW2 = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
COLUMNS = list(ROW)
CLASSES = {"setosa", "versicolor", "virginica"}


def test_predict_one_row_answers_prediction_id_and_probabilities(
    service: Callable[..., Any],
) -> None:
    svc = service()
    r = svc.client.post("/predict", json=ROW)
    assert r.status_code == 200
    body = r.json()
    assert body["predictions"] == ["setosa"]
    assert body["model"] == "iris" and body["model_version"] == "1"
    assert len(body["ids"]) == 1 and r.headers["x-prediction-id"] == body["ids"][0]
    (probs,) = body["probabilities"]
    assert len(probs) == 3 and abs(sum(probs) - 1) < 1e-9 and max(probs) > 0.5


def test_predict_batch_is_durable_when_answered(service: Callable[..., Any]) -> None:
    svc = service()
    r = svc.client.post("/predict", json={"instances": [ROW, ROW2, ROW]})
    assert r.status_code == 200
    body = r.json()
    assert body["predictions"] == ["setosa", "virginica", "setosa"]
    assert len(set(body["ids"])) == 3 and "x-prediction-id" not in r.headers
    # answered means committed: a second connection to the database sees every row
    with SQLiteStore(svc.settings.store_path) as store:
        for pid, pred in zip(body["ids"], body["predictions"], strict=True):
            stored = store.get(pid)
            assert stored is not None and stored.prediction == pred


@pytest.mark.parametrize(
    "payload",
    [
        {
            "dataframe_split": {
                "columns": COLUMNS,
                "data": [list(ROW.values()), list(ROW2.values())],
            }
        },
        {"dataframe_split": {"data": [list(ROW.values()), list(ROW2.values())]}},
        {
            "dataframe_split": {
                "index": [0, 1],
                "columns": COLUMNS[::-1],
                "data": [list(ROW.values())[::-1], list(ROW2.values())[::-1]],
            }
        },
        {"dataframe_records": [ROW, ROW2]},
        {"instances": [ROW, ROW2]},
        {"instances": [list(ROW.values()), list(ROW2.values())]},
        {"inputs": {k: [ROW[k], ROW2[k]] for k in COLUMNS}},
        {"inputs": [ROW, ROW2]},
    ],
    ids=[
        "split",
        "split-no-columns",
        "split-reordered",
        "records",
        "instances",
        "instances-rows",
        "inputs-columns",
        "inputs-records",
    ],
)
def test_invocations_accepts_every_mlflow_layout(
    service: Callable[..., Any], payload: dict[str, Any]
) -> None:
    svc = service()
    r = svc.client.post("/invocations", json=payload)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["predictions"] == ["setosa", "virginica"]
    assert len(body["ids"]) == 2


def test_invocations_without_a_known_key_names_the_body(service: Callable[..., Any]) -> None:
    svc = service()
    r = svc.client.post("/invocations", json={"rows": [ROW]})
    assert r.status_code == 422
    assert r.json()["field"] == "body"
    assert "dataframe_split" in r.json()["detail"]


def test_concurrent_requests_share_commits(service: Callable[..., Any]) -> None:
    import concurrent.futures

    svc = service()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: svc.client.post("/predict", json=ROW), range(200)))
    assert all(a.status_code == 200 for a in answers)
    ids = {a.json()["ids"][0] for a in answers}
    assert len(ids) == 200
    with SQLiteStore(svc.settings.store_path) as store:
        assert store.stats().predictions == 200
    # the writer grouped concurrent requests: fewer transactions than requests
    assert svc.state.flusher.transactions < 200


def test_openapi_documents_the_routes(service: Callable[..., Any]) -> None:
    svc = service()
    spec = svc.client.get("/openapi.json").json()
    for path in ("/predict", "/invocations", "/feedback", "/metrics", "/readyz"):
        assert path in spec["paths"]
    assert svc.client.get("/docs").status_code == 200


def test_answers_are_the_types_the_openapi_page_documents(service: Callable[..., Any]) -> None:
    from inferwatch.server.responses import (
        FeedbackResponse,
        InvocationsResponse,
        PredictResponse,
        Problem,
    )

    svc = service()
    spec = svc.client.get("/openapi.json").json()

    def documented(path: str, status: str) -> str:
        content = spec["paths"][path]["post"]["responses"][status]["content"]
        return str(content["application/json"]["schema"]["$ref"]).rsplit("/", 1)[-1]

    assert documented("/predict", "200") == "PredictResponse"
    assert documented("/invocations", "200") == "InvocationsResponse"
    assert documented("/feedback", "200") == "FeedbackResponse"
    for path, status in (("/predict", "422"), ("/feedback", "404")):
        content = spec["paths"][path]["post"]["responses"][status]["content"]
        error = content["application/json"]["schema"]
        if "$ref" in error:
            error = spec["components"]["schemas"][error["$ref"].rsplit("/", 1)[-1]]
        assert set(error["properties"]) <= set(Problem.model_fields), (path, status)

    ok = svc.client.post("/predict", json=ROW).json()
    assert PredictResponse.model_validate(ok).model_dump(exclude_unset=True) == ok
    inv = svc.client.post("/invocations", json={"instances": [ROW]}).json()
    assert InvocationsResponse.model_validate(inv).model_dump() == inv
    fb = svc.client.post("/feedback", json={"labels": [{"id": ok["ids"][0], "label": "x"}]})
    FeedbackResponse.model_validate(fb.json())
    bad = svc.client.post("/predict", json={**ROW, "sepal_length": "wide"})
    assert bad.status_code == 422
    assert Problem.model_validate(bad.json()).field == "sepal_length"


@pytest.mark.parametrize(
    ("path", "payload", "model"),
    [
        ("/predict", {"instances": [ROW, ROW2]}, "PredictResponse"),
        ("/predict", ROW, "PredictResponse"),
        ("/predict", {"instances": [ROW, ROW2], "labels": ["setosa", None]}, "PredictResponse"),
        ("/invocations", {"instances": [ROW]}, "InvocationsResponse"),
    ],
)
def test_prediction_answers_are_their_documented_type(
    service: Callable[..., Any], path: str, payload: Any, model: str
) -> None:
    """The answer has the fields of its response type, in the type's order, and validates
    (``label_counts`` only when labels came with the rows)."""
    from inferwatch.server import responses

    kind = getattr(responses, model)
    r = service().client.post(path, json=payload)
    assert r.status_code == 200
    body = r.json()
    fields = list(kind.model_fields)
    if isinstance(payload, dict) and "labels" not in payload:
        fields = [f for f in fields if f != "label_counts"]
    assert list(body) == fields
    kind.model_validate(body)
