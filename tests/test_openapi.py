"""The OpenAPI document describes the API the service really answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

PROTECTED = [
    ("/predict", "post"),
    ("/invocations", "post"),
    ("/feedback", "post"),
    ("/alerts", "post"),
    ("/api/retrain", "post"),
]
TOKEN = "0123456789abcdef-openapi"


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


@pytest.mark.parametrize("example", ["iris", "cancer"])
def test_openapi_describes_the_served_model_and_the_routes(
    service: Callable[..., Any],
    iris_model_dir: Path,
    cancer_model_dir: Path,
    example: str,
) -> None:
    model_dir = iris_model_dir if example == "iris" else cancer_model_dir
    auth = {"authorization": f"Bearer {TOKEN}"}
    svc = service(model_dir=model_dir, api_token=TOKEN, headers=auth)
    doc = svc.client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.split("/")[-1] in schemas, ref
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path, method in PROTECTED:
        operation = doc["paths"][path][method]
        assert operation["security"] == [{"bearerAuth": []}], path
        assert operation["responses"]["401"]["content"]["application/json"]
    for path in ("/metrics", "/healthz", "/readyz"):
        assert "security" not in doc["paths"][path]["get"]
    metrics = doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain; version=0.0.4; charset=utf-8"]
    alerts = doc["paths"]["/alerts"]["post"]["requestBody"]["content"]["application/json"]
    assert alerts["schema"] == {"$ref": "#/components/schemas/WebhookPayload"}
    predict = doc["paths"]["/predict"]["post"]
    for code in ("400", "413", "422", "502", "503", "504"):
        error = predict["responses"][code]["content"]["application/json"]["schema"]
        assert error["properties"]["field"] == {"type": "string"}
    # the examples are the served model's rows, and the service accepts every one of them
    names = set(svc.state.served.schema.names)
    for path in ("/predict", "/invocations", "/log"):
        body = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        for name, example_body in body["examples"].items():
            r = svc.client.post(path, json=example_body["value"])
            assert r.status_code == 200, (path, name, r.text)
            if "labels" in example_body["value"]:  # documented, and taken with the rows
                assert r.json()["label_counts"] == {"matched": 1}, (path, name)
    one_row = predict["requestBody"]["content"]["application/json"]["examples"]["one row"]
    assert set(one_row["value"]) == names
    feedback = doc["paths"]["/feedback"]["post"]["requestBody"]["content"]["application/json"]
    label = feedback["examples"]["one label"]["value"]["label"]
    assert label in (svc.state.served.metadata.classes or [])


def test_without_a_token_the_document_claims_no_security(service: Callable[..., Any]) -> None:
    doc = service().client.get("/openapi.json").json()
    for path, method in PROTECTED:
        assert "security" not in doc["paths"][path][method]
        assert "401" not in doc["paths"][path][method]["responses"]
    query = doc["paths"]["/api/query"]["get"]["parameters"]
    assert "accuracy" in next(p for p in query if p["name"] == "name")["schema"]["enum"]
