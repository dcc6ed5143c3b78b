"""``/metrics`` answers in OpenMetrics when the scraper asks for it, as Prometheus does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as text_families

# What Prometheus 2.x/3.x sends on every scrape.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def test_metrics_speak_openmetrics_to_prometheus(service: Callable[..., Any]) -> None:
    svc = service()
    row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    assert svc.client.post("/predict", json=row).status_code == 200

    answer = svc.client.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.text.endswith("# EOF\n")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    rows = families["inferwatch_inference_rows"]
    assert sum(s.value for s in rows.samples if s.name.endswith("_total")) == 1

    plain = svc.client.get("/metrics")
    assert plain.headers["content-type"].startswith("text/plain")
    assert "# EOF" not in plain.text
    assert "inferwatch_inference_rows_total" in {
        f.name + "_total" for f in text_families(plain.text)
    }
