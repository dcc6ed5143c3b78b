"""Hostile bodies over real HTTP: a 4xx naming the field, and the connection stays usable."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferwatch.lifecycle.examples import load_example_frame

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
ROW_TEXT = '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
DEEP = "[" * 5000 + "]" * 5000


def _cancer_row() -> dict[str, Any]:
    features, _ = load_example_frame("cancer")
    row: dict[str, Any] = features.head(1).to_dict(orient="records")[0]
    return row


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/predict", ROW_TEXT.replace("5.1", "1" + "0" * 400), 422, "sepal_length"),
        (
            "/predict",
            '{"instances": [' + ROW_TEXT.replace("0.2", "9" * 320) + "]}",
            422,
            "petal_width",
        ),
        (
            "/invocations",
            '{"dataframe_split": {"columns": ["sepal_length", "sepal_width", '
            '"petal_length", "petal_width"], "data": [[1' + "0" * 400 + ", 1, 1, NaN]]}}",
            422,
            "sepal_length",
        ),
        ("/predict", DEEP, 400, "body"),
        ("/invocations", '{"inputs": ' + DEEP + "}", 400, "body"),
        ("/feedback", '{"labels": ' + DEEP + "}", 400, "body"),
        ("/alerts", '{"alerts": ' + DEEP + "}", 422, "body"),
        ("/predict", '{"instances": [' + "[" * 900 + "]" * 900 + "]}", 422, "instances[0]"),
        ("/feedback", '{"id": "\\ud800", "label": "setosa"}', 422, "id"),
        ("/feedback", '{"labels": [{"id": "x", "label": "\\udfff"}]}', 422, "labels[0].label"),
        ("/predict", '{"instances": [{"\\ud800": 1}]}', 422, "instances[0].\\ud800"),
    ],
    ids=[
        "huge-int",
        "huge-int-batch",
        "huge-int-mlflow",
        "deep-predict",
        "deep-invocations",
        "deep-feedback",
        "deep-alerts",
        "deep-row",
        "surrogate-id",
        "surrogate-label",
        "surrogate-key",
    ],
)
def test_hostile_body_is_a_4xx_naming_the_field_and_the_connection_survives(
    service: Callable[..., Any], path: str, body: str, status: int, field: str
) -> None:
    svc = service()
    with httpx.Client(base_url=svc.url, timeout=30) as client:
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == status, r.text
        assert r.json()["field"] == field
        # the same keep-alive connection serves the next request
        good = client.post("/predict", json=ROW)
        assert good.status_code == 200
        assert good.json()["predictions"]


def test_surrogate_in_a_categorical_value_is_refused_before_the_store(
    service: Callable[..., Any], cancer_model_dir: Path
) -> None:
    svc = service(model_dir=cancer_model_dir)
    row = _cancer_row()
    text = json.dumps({"instances": [row, row]})
    bad = text.replace(f'"{row["clinic"]}"', '"north\\ud800"', 1)
    with httpx.Client(base_url=svc.url, timeout=30) as client:
        r = client.post("/predict", content=bad, headers={"content-type": "application/json"})
        assert r.status_code == 422
        assert r.json()["field"] == "instances[0].clinic"
        assert client.post("/predict", json={"instances": [row]}).status_code == 200


def test_core_schema_refuses_text_no_store_can_encode(cancer_model_dir: Path) -> None:
    from inferwatch.core.schema import FeatureSchema, SchemaError
    from inferwatch.lifecycle.modeldir import load_model_dir

    schema: FeatureSchema = load_model_dir(cancer_model_dir, load_model=False).schema
    row = _cancer_row()
    with pytest.raises(SchemaError) as caught:
        schema.columns_from_records([row, row | {"clinic": "x\udc80"}])
    assert caught.value.field == "clinic" and "row 1" in str(caught.value)
    with pytest.raises(SchemaError) as big:
        schema.columns_from_records([row | {"mean_radius": 10**400}])
    assert big.value.field == "mean_radius" and big.value.check == "non_finite"


@pytest.mark.parametrize(
    ("label", "outcome"),
    [
        ("setosa", "matched"),
        ("dog", "invalid"),
        (1, "invalid"),
        (float("nan"), "invalid"),
        (None, "invalid"),
    ],
)
def test_a_classifier_label_must_be_one_of_the_classes(
    service: Callable[..., Any], label: Any, outcome: str
) -> None:
    svc = service()
    pid = svc.client.post("/predict", json=ROW).json()["ids"][0]
    body = json.dumps({"labels": [{"id": pid, "label": label}]})  # NaN as clients send it
    r = svc.client.post("/feedback", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200
    result = r.json()["results"][0]
    assert result["outcome"] == outcome
    if outcome == "invalid":
        assert result["detail"].startswith("labels[0].label")
        # not joined: the right label can still come
        fixed = svc.client.post("/feedback", json={"id": pid, "label": "setosa"})
        assert fixed.json()["results"][0]["outcome"] == "matched"


def test_a_regressor_label_must_be_finite() -> None:
    from inferwatch.server.feedback import _check_item

    for bad in (float("inf"), float("nan"), 10**400, "3.0", True):
        pid, reason = _check_item({"id": "a", "label": bad}, None, "regression", None)
        assert pid is None and str(reason).startswith("body.label")
    assert _check_item({"id": "a", "label": 2}, None, "regression", None) == ("a", 2.0)


def test_labels_from_numpy_or_pandas_are_judged_by_their_value() -> None:
    """Python callers (``Watcher``) pass numpy scalars: an ``int64`` class or target is the
    number it holds, a NaN target is still refused."""
    import numpy as np

    from inferwatch.integrations.logged import check_label, check_labels

    assert check_label(np.int64(3), "y", "regression", None) == (3.0, None)
    assert check_label(np.int64(1), "y", "classification", ["0", "1"]) == ("1", None)
    assert check_label(np.float64("nan"), "y", "regression", None)[1] == "y: not finite"
    assert check_labels(np.array([0, 1]), 2, "classification", ["0", "1"]) == ["0", "1"]
