"""``/predict`` with client-supplied ids: they name the rows, labels join by them, and a
duplicate is refused with 409 naming it, without costing anyone else's rows."""

from __future__ import annotations

from typing import Any

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def test_client_ids_name_the_rows_and_labels_join_by_them(service: Any) -> None:
    c = service().client
    r = c.post("/predict", json={"instances": [ROW, ROW], "ids": ["dev7-001", "dev7-002"]})
    assert r.status_code == 200, r.text
    assert r.json()["ids"] == ["dev7-001", "dev7-002"]
    fb = c.post("/feedback", json={"labels": [{"id": "dev7-002", "label": "setosa"}]})
    assert fb.status_code == 200, fb.text
    assert fb.json()["counts"] == {"matched": 1}


def test_a_stored_id_is_refused_with_409_naming_it(service: Any) -> None:
    c = service().client
    assert c.post("/predict", json={"instances": [ROW], "ids": ["a1"]}).status_code == 200
    again = c.post("/predict", json={"instances": [ROW, ROW], "ids": ["b1", "a1"]})
    assert again.status_code == 409
    assert again.json()["field"] == "ids[1]" and "'a1'" in again.json()["detail"]
    # b1 was not stored with the refused request, and is free for the next one
    ok = c.post("/predict", json={"instances": [ROW], "ids": ["b1"]})
    assert ok.status_code == 200, ok.text
    twice = c.post("/predict", json={"instances": [ROW, ROW], "ids": ["c1", "c1"]})
    assert twice.status_code == 409 and twice.json()["field"] == "ids[1]"


def test_unusable_ids_are_422_naming_the_field(service: Any) -> None:
    c = service().client
    short = c.post("/predict", json={"instances": [ROW, ROW], "ids": ["x"]})
    assert short.status_code == 422 and short.json()["field"] == "ids"
    blank = c.post("/predict", json={"instances": [ROW], "ids": [""]})
    assert blank.status_code == 422 and blank.json()["field"] == "ids[0]"
    # without ids the service names the rows itself, as before
    plain = c.post("/predict", json={"instances": [ROW]})
    assert plain.status_code == 200 and len(plain.json()["ids"][0]) == 32
