"""Retraining through the running service: by hand, from an alert, and across a restart."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from tests.support.waiting import wait_until

from inferwatch.examples import load_example_frame

SWAP = {"versicolor": "virginica", "virginica": "versicolor"}


def send_concept_drift(client: Any) -> None:
    """Score every iris row, then label it with the new concept (two classes swapped)."""
    features, labels = load_example_frame("iris")
    rows = features.to_dict(orient="records")
    ids = client.post("/predict", json={"instances": rows}).json()["ids"]
    feedback = [
        {"id": pid, "label": SWAP.get(label, label)} for pid, label in zip(ids, labels, strict=True)
    ]
    answer = client.post("/feedback", json={"labels": feedback})
    assert answer.status_code == 200


def metric(client: Any, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return None


def versicolor_row() -> dict[str, float]:
    features, labels = load_example_frame("iris")
    assert labels.iloc[60] == "versicolor"
    return {k: float(v) for k, v in features.iloc[60].items()}


def test_manual_retrain_promotes_the_new_concept_and_serves_it(service: Any) -> None:
    running = service(retrain_min_labels=100, retrain_reference_tolerance=1.0)
    client = running.client
    send_concept_drift(client)

    result = client.post("/api/retrain").json()

    assert result["outcome"] == "promoted", result
    assert result["trigger"] == "manual"
    assert result["candidate_version"] == "2"
    answer = client.post("/predict", json=versicolor_row()).json()
    assert answer["model_version"] == "2"
    assert answer["predictions"] == ["virginica"]
    runs = client.get("/api/retraining").json()
    assert runs["serving_version"] == "2"
    assert runs["versions"] == ["2"]
    promoted = metric(
        client, "inferwatch_retraining_runs_total", trigger="manual", outcome="promoted"
    )
    assert promoted == 1.0
    assert metric(client, "inferwatch_model_info", model_version="2") == 1.0


def test_promoted_model_is_served_after_a_restart(service: Any, tmp_path: Any) -> None:
    data_dir = tmp_path / "shared-data"
    first = service(retrain_min_labels=100, retrain_reference_tolerance=1.0, data_dir=data_dir)
    send_concept_drift(first.client)
    assert first.client.post("/api/retrain").json()["outcome"] == "promoted"
    first.stop()

    second = service(data_dir=data_dir)
    answer = second.client.post("/predict", json=versicolor_row()).json()
    assert answer["model_version"] == "2"
    assert answer["predictions"] == ["virginica"]


def test_too_few_labels_is_rejected_and_the_model_stays(service: Any) -> None:
    running = service(retrain_min_labels=1000)
    send_concept_drift(running.client)
    result = running.client.post("/api/retrain").json()
    assert result["outcome"] == "rejected"
    assert "150 labelled rows" in result["reason"]
    assert running.client.post("/predict", json=versicolor_row()).json()["model_version"] == "1"


def test_firing_accuracy_alert_starts_a_run(service: Any) -> None:
    running = service(
        retrain_min_labels=100,
        retrain_reference_tolerance=1.0,
        retrain_on_alerts=["ModelAccuracyLow"],
    )
    client = running.client
    send_concept_drift(client)
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "inferwatch",
        "groupKey": '{}:{alertname="ModelAccuracyLow"}',
        "groupLabels": {"alertname": "ModelAccuracyLow"},
        "commonLabels": {"alertname": "ModelAccuracyLow", "model": "iris"},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "ModelAccuracyLow", "model": "iris", "severity": "warning"},
                "annotations": {"summary": "accuracy low"},
                "startsAt": "2026-11-23T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": "abc",
            }
        ],
    }
    assert client.post("/alerts", json=payload).status_code == 200

    runs = wait_until(lambda: client.get("/api/retraining").json()["runs"], timeout=60)
    assert runs[0]["trigger"] == "alert"
    assert runs[0]["outcome"] == "promoted"
    assert client.post("/predict", json=versicolor_row()).json()["model_version"] == "2"


def test_retrain_command_reports_the_outcome(service: Any) -> None:
    from typer.testing import CliRunner

    from inferwatch.cli import app

    running = service(retrain_min_labels=100, retrain_reference_tolerance=1.0)
    send_concept_drift(running.client)
    result = CliRunner().invoke(app, ["retrain", "--url", running.url])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("promoted: candidate accuracy")
    assert "150 labelled rows" in result.output
