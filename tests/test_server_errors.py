"""Bad input over real HTTP: a 4xx naming the field, counted, never a 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.support.waiting import wait_until

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def _value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise AssertionError(f"no sample {name} {labels}")


def wait_until_counted(svc: Any, feature: str, check: str) -> None:
    """Wait until /metrics counts one data-quality issue of ``check`` on ``feature``."""
    wait_until(
        lambda: (
            _value(
                svc.client.get("/metrics").text,
                "inferwatch_data_quality_issues_total",
                feature=feature,
                check=check,
            )
            == 1
        ),
        what=f"one {check} issue counted on {feature}",
    )


@pytest.mark.parametrize(
    ("body", "status", "field", "check"),
    [
        (ROW | {"sepal_length": "long"}, 422, "sepal_length", "wrong_type"),
        (ROW | {"petal_width": True}, 422, "petal_width", "wrong_type"),
        ({k: v for k, v in ROW.items() if k != "sepal_width"}, 422, "sepal_width", "missing"),
        (ROW | {"petal_length": None}, 422, "petal_length", "missing"),
        ({"instances": [ROW, ROW | {"sepal_width": [1]}]}, 422, "sepal_width", "wrong_type"),
        ({"instances": [ROW, 5]}, 422, "instances[1]", None),
        ({"instances": []}, 422, "instances", None),
        ({"instances": "x"}, 422, "instances", None),
    ],
    ids=["string", "bool", "missing", "null", "nested", "not-object", "empty", "not-list"],
)
def test_bad_rows_name_the_field_and_are_counted(
    service: Callable[..., Any],
    body: Any,
    status: int,
    field: str,
    check: str | None,
) -> None:
    svc = service()
    r = svc.client.post("/predict", json=body)
    assert r.status_code == status
    assert r.json()["field"] == field
    assert field in r.json()["detail"]
    metrics = svc.client.get("/metrics").text
    assert _value(metrics, "inferwatch_inference_errors_total", error_type="validation") == 1
    if check is not None:
        count = _value(metrics, "inferwatch_data_quality_issues_total", feature=field, check=check)
        assert count == 1


def test_nan_and_infinity_literals_are_refused_naming_the_feature(
    service: Callable[..., Any],
) -> None:
    svc = service()
    for raw, check in ((b"NaN", "missing"), (b"Infinity", "non_finite")):
        body = (
            b'{"sepal_length": 5.1, "sepal_width": '
            + raw
            + b', "petal_length": 1.4, "petal_width": 0.2}'
        )
        r = svc.client.post("/predict", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422
        assert r.json()["field"] == "sepal_width"
        metrics = svc.client.get("/metrics").text
        assert (
            _value(
                metrics, "inferwatch_data_quality_issues_total", feature="sepal_width", check=check
            )
            == 1
        )


def test_nan_is_passed_on_when_the_model_accepts_it(service: Callable[..., Any]) -> None:
    svc = service(accept_missing_values=True)
    r = svc.client.post("/predict", json=ROW | {"petal_length": None})
    # the iris model itself cannot score NaN: the model's refusal is a 422, not a 500
    assert r.status_code == 422
    assert r.json()["error_type"] == "model"


def test_out_of_range_value_is_accepted_and_counted(service: Callable[..., Any]) -> None:
    svc = service()
    r = svc.client.post("/predict", json=ROW | {"sepal_length": 99.0})
    assert r.status_code == 200

    wait_until_counted(svc, "sepal_length", "out_of_range")


def test_numeric_string_is_scored_and_counted_as_wrong_type(service: Callable[..., Any]) -> None:
    """A number sent as a string ("5.1") is usable: scored, but counted as an upstream
    pipeline problem, alone and when it shares a commit with clean requests."""
    svc = service()
    clean = svc.client.post("/predict", json={"instances": [ROW, ROW]})
    r = svc.client.post("/predict", json=ROW | {"sepal_length": "5.1"})
    assert clean.status_code == 200
    assert r.status_code == 200

    wait_until_counted(svc, "sepal_length", "wrong_type")


def test_unknown_category_is_accepted_and_counted(
    service: Callable[..., Any], cancer_model_dir: Any
) -> None:
    from inferwatch.lifecycle.examples import load_example_frame

    svc = service(model_dir=cancer_model_dir)
    features, _ = load_example_frame("cancer")
    row = features.iloc[0].to_dict() | {"clinic": "a-clinic-nobody-knows"}
    r = svc.client.post("/predict", json=row)
    assert r.status_code == 200, r.text

    wait_until_counted(svc, "clinic", "unknown_category")


def test_malformed_json_is_400(service: Callable[..., Any]) -> None:
    svc = service()
    for body in (b"{not json", b"", b'{"sepal_length": 5.1,'):
        r = svc.client.post("/predict", content=body)
        assert r.status_code == 400
        assert r.json()["field"] == "body"
    r = svc.client.post("/feedback", content=b"[1,")
    assert r.status_code == 400 and r.json()["field"] == "body"


def test_oversize_body_is_413_before_it_is_read(service: Callable[..., Any]) -> None:
    svc = service(max_body_bytes=1000)
    big = {"instances": [ROW] * 100}
    r = svc.client.post("/predict", json=big)
    assert r.status_code == 413
    assert r.json()["field"] == "body"

    # a chunked body (no Content-Length) is cut off as it streams
    def chunks() -> Any:
        yield b'{"instances": ['
        row = b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
        for _ in range(100):
            yield row + b","
        yield b"{}]}"

    r = svc.client.post("/predict", content=chunks())
    assert r.status_code == 413
    text = svc.client.get("/metrics").text
    assert _value(text, "inferwatch_http_requests_total", route="/predict", status_code="413") == 2
    assert _value(text, "inferwatch_inference_errors_total", error_type="validation") == 2


def test_batch_over_max_rows_is_413_naming_instances(service: Callable[..., Any]) -> None:
    svc = service(max_batch_rows=10)
    r = svc.client.post("/predict", json={"instances": [ROW] * 11})
    assert r.status_code == 413 and r.json()["field"] == "instances"
    r = svc.client.post("/invocations", json={"dataframe_records": [ROW] * 11})
    assert r.status_code == 413 and r.json()["field"] == "dataframe_records"


def test_unknown_path_is_counted_as_other_route(service: Callable[..., Any]) -> None:
    svc = service()
    for i in range(3):
        assert svc.client.get(f"/no/such/path/{i}").status_code == 404
    text = svc.client.get("/metrics").text
    assert _value(text, "inferwatch_http_requests_total", route="other", status_code="404") == 3


def test_no_client_input_gets_a_500(service: Callable[..., Any]) -> None:
    svc = service()
    bodies: list[bytes] = [
        b"null",
        b"1",
        b'"text"',
        b"[]",
        b"[[1,2]]",
        b'{"instances": [[1, 2, "x", 4]]}',
        b'{"instances": {"sepal_length": [1, 2], "sepal_width": [1]}}',
        b'{"dataframe_split": {"columns": "abc", "data": [[1]]}}',
        b'{"dataframe_split": {"columns": ["a"], "data": 5}}',
        b'{"dataframe_split": 7}',
        b'{"inputs": 3}',
        b'{"instances": [{}], "dataframe_records": []}',
        b"\xff\xfe",
    ]
    for body in bodies:
        for path in ("/predict", "/invocations", "/feedback"):
            r = svc.client.post(path, content=body)
            assert 400 <= r.status_code < 500, (path, body, r.status_code, r.text)
            assert "field" in r.json() or path == "/feedback", (path, body, r.text)
    assert isinstance(svc.client, httpx.Client)
