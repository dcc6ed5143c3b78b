"""The service's /metrics exposition after real traffic passes `promtool check metrics`."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}

CATALOGUE = [
    "inferwatch_http_requests",
    "inferwatch_http_request_duration_seconds",
    "inferwatch_http_requests_in_progress",
    "inferwatch_inference_duration_seconds",
    "inferwatch_inference_rows",
    "inferwatch_inference_errors",
    "inferwatch_predictions",
    "inferwatch_prediction_confidence_ratio",
    "inferwatch_data_quality_issues",
    "inferwatch_feature_bin_observations",
    "inferwatch_feature_reference_bin_ratio",
    "inferwatch_feature_drift_score",
    "inferwatch_feature_drift_detected",
    "inferwatch_prediction_drift_score",
    "inferwatch_window_rows",
    "inferwatch_labeled_predictions",
    "inferwatch_model_accuracy_ratio",
    "inferwatch_model_precision_ratio",
    "inferwatch_model_recall_ratio",
    "inferwatch_model_f1_ratio",
    "inferwatch_model_estimated_accuracy_ratio",
    "inferwatch_feedback",
    "inferwatch_feedback_delay_seconds",
    "inferwatch_model_info",
    "inferwatch_system_cpu_usage_ratio",
    "inferwatch_system_memory_usage_ratio",
    "inferwatch_system_disk_usage_ratio",
    "process_resident_memory_bytes",
]


def test_metrics_parse_and_pass_promtool(service: Callable[..., Any]) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is needed (Debian package prometheus)"
    svc = service(min_labels=1)
    from inferwatch.lifecycle.examples import load_example_frame

    features, target = load_example_frame("iris")
    r = svc.client.post("/predict", json={"instances": features.to_dict(orient="records")})
    ids = r.json()["ids"]
    svc.client.post(
        "/feedback",
        json={"labels": [{"id": i, "label": str(t)} for i, t in zip(ids, target, strict=True)]},
    )
    svc.client.post("/predict", json=ROW | {"sepal_width": "wide"})
    svc.client.get("/nope")

    def scraped() -> str | None:
        text = svc.client.get("/metrics").text
        return text if "inferwatch_model_accuracy_ratio{" in text else None

    text = wait_until(scraped)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    missing = [name for name in CATALOGUE if name not in families]
    assert missing == []
    accuracy = families["inferwatch_model_accuracy_ratio"].samples[0].value
    assert 0.9 < accuracy <= 1.0
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == "" and check.stderr.strip() == ""
