"""/feedback over real HTTP: outcomes per label, accuracy moving as labels arrive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from tests.support.waiting import wait_until

from inferwatch.lifecycle.examples import load_example_frame


def _sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def _predict_all(svc: Any, n: int) -> tuple[list[str], list[str], list[str]]:
    features, target = load_example_frame("iris")
    rows = features.head(n).to_dict(orient="records")
    r = svc.client.post("/predict", json={"instances": rows})
    assert r.status_code == 200
    return r.json()["ids"], r.json()["predictions"], [str(t) for t in target.head(n)]


def test_feedback_outcomes_per_item_without_failing_the_batch(
    service: Callable[..., Any],
) -> None:
    svc = service()
    ids, _, truth = _predict_all(svc, 2)
    r = svc.client.post(
        "/feedback",
        json={
            "labels": [
                {"id": ids[0], "label": truth[0]},
                {"id": "no-such-id", "label": "setosa"},
                {"id": ids[0], "label": truth[0]},
                {"id": ids[1], "label": ["not", "a", "class"]},
                {"label": "setosa"},
            ]
        },
    )
    assert r.status_code == 200
    outcomes = [x["outcome"] for x in r.json()["results"]]
    assert outcomes == ["matched", "unknown_id", "duplicate", "invalid", "invalid"]
    assert r.json()["results"][3]["detail"].startswith("labels[3].label")
    assert r.json()["counts"] == {"matched": 1, "unknown_id": 1, "duplicate": 1, "invalid": 2}
    # the valid label of ids[1] can still come later
    again = svc.client.post("/feedback", json={"id": ids[1], "label": truth[1]})
    assert again.status_code == 200 and again.json()["results"][0]["outcome"] == "matched"
    metrics = wait_until(
        lambda: (
            (t := svc.client.get("/metrics").text)
            and _sample(t, "inferwatch_feedback_total", outcome="matched") == 2
            and t
        )
    )
    assert _sample(metrics, "inferwatch_feedback_total", outcome="invalid") == 2
    assert _sample(metrics, "inferwatch_feedback_total", outcome="unknown_id") == 1


def test_feedback_lists_only_the_unmatched_labels_when_asked(
    service: Callable[..., Any],
) -> None:
    """``?results=unmatched``: the counts of every outcome, and only the labels that need
    attention, each with its position in ``labels``; the matched labels still count."""
    svc = service(min_labels=1)
    ids, _, truth = _predict_all(svc, 3)
    labels = [
        {"id": ids[0], "label": truth[0]},
        {"id": "no-such-id", "label": "setosa"},
        {"id": ids[1], "label": truth[1]},
        {"id": ids[0], "label": truth[0]},
        {"id": ids[2], "label": 7.5},
    ]
    r = svc.client.post("/feedback?results=unmatched", json={"labels": labels})
    assert r.status_code == 200
    assert r.json()["counts"] == {"matched": 2, "unknown_id": 1, "duplicate": 1, "invalid": 1}
    assert [(x["index"], x["id"], x["outcome"]) for x in r.json()["results"]] == [
        (1, "no-such-id", "unknown_id"),
        (3, ids[0], "duplicate"),
        (4, ids[2], "invalid"),
    ]
    assert r.json()["results"][2]["detail"].startswith("labels[4].label")
    assert wait_until(lambda: accuracy_at(svc, 2) is not None)
    clean = svc.client.post(
        "/feedback?results=unmatched", json={"labels": [{"id": ids[2], "label": truth[2]}]}
    )
    assert clean.json() == {"results": [], "counts": {"matched": 1}}


def test_feedback_refuses_an_unknown_results_option_naming_it(
    service: Callable[..., Any],
) -> None:
    svc = service()
    ids, _, truth = _predict_all(svc, 1)
    body = {"labels": [{"id": ids[0], "label": truth[0]}]}
    r = svc.client.post("/feedback?results=some", json=body)
    assert r.status_code == 422
    assert r.json()["field"] == "results" and "'some'" in r.json()["detail"]
    metrics = svc.client.get("/metrics").text
    assert _sample(metrics, "inferwatch_feedback_total", outcome="invalid") == 1
    # nothing was stored: the label can still come
    again = svc.client.post("/feedback?results=all", json=body)
    assert again.json()["results"][0]["outcome"] == "matched"


def test_single_label_with_unknown_id_is_404_naming_the_id(service: Callable[..., Any]) -> None:
    svc = service()
    r = svc.client.post("/feedback", json={"id": "nope", "label": "setosa"})
    assert r.status_code == 404
    assert r.json()["field"] == "id" and r.json()["outcome"] == "unknown_id"
    bad = svc.client.post("/feedback", json={"id": "x", "label": {"a": 1}})
    assert bad.status_code == 422 and bad.json()["field"] == "label"


def test_accuracy_follows_the_labels(service: Callable[..., Any]) -> None:
    svc = service(min_labels=10)
    ids, predictions, _ = _predict_all(svc, 60)
    # first all labels agree with the model: accuracy 1.0
    r = svc.client.post(
        "/feedback",
        json={
            "labels": [{"id": i, "label": p} for i, p in zip(ids[:30], predictions, strict=False)]
        },
    )
    assert r.json()["counts"] == {"matched": 30}

    def accuracy() -> Any:
        perf = svc.client.get("/api/snapshot").json()["performance"]
        return perf["accuracy"] if perf["labels"] == 30 else None

    assert wait_until(accuracy) == 1.0
    # then 30 labels that all disagree: accuracy drops to 0.5
    wrong = {"setosa": "virginica", "versicolor": "setosa", "virginica": "versicolor"}
    r = svc.client.post(
        "/feedback",
        json={
            "labels": [
                {"id": i, "label": wrong[p]}
                for i, p in zip(ids[30:], predictions[30:], strict=True)
            ]
        },
    )
    assert r.json()["counts"] == {"matched": 30}
    assert wait_until(lambda: (a := accuracy_at(svc, 60)) is not None and a) == 0.5
    metrics = svc.client.get("/metrics").text
    assert _sample(metrics, "inferwatch_model_accuracy_ratio", model="iris") == 0.5
    confusion = _sample(
        metrics, "inferwatch_labeled_predictions_total", actual="virginica", predicted="setosa"
    )
    assert confusion is not None and confusion > 0


def accuracy_at(svc: Any, labels: int) -> float | None:
    perf = svc.client.get("/api/snapshot").json()["performance"]
    return perf["accuracy"] if perf["labels"] == labels else None
