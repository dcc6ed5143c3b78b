"""A restart rebuilds the wrong_type counts from the store, like every other count."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from tests.support.waiting import wait_until

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def _wrong_type(svc: Any, feature: str) -> float:
    for family in text_string_to_metric_families(svc.client.get("/metrics").text):
        for s in family.samples:
            if (
                s.name == "inferwatch_data_quality_issues_total"
                and s.labels.get("feature") == feature
                and s.labels.get("check") == "wrong_type"
            ):
                return float(s.value)
    return 0.0


def test_wrong_type_counts_survive_a_restart(service: Callable[..., Any], tmp_path: Path) -> None:
    data_dir = tmp_path / "kept"
    first = service(data_dir=data_dir, monitor_linger_seconds=0.01)
    coerced = [ROW | {"sepal_length": "5.1"}] * 7 + [ROW | {"petal_width": "0.2"}] * 3
    r = first.client.post("/predict", json={"instances": [ROW, *coerced, ROW]})
    assert r.status_code == 200
    assert first.client.post("/predict", json=ROW | {"sepal_length": "6.0"}).status_code == 200
    wait_until(lambda: _wrong_type(first, "sepal_length") == 8, what="counted before")
    assert _wrong_type(first, "petal_width") == 3
    first.stop()

    second = service(data_dir=data_dir)
    assert _wrong_type(second, "sepal_length") == 8
    assert _wrong_type(second, "petal_width") == 3
    assert _wrong_type(second, "sepal_width") == 0
