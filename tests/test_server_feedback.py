"""/feedback over real HTTP: outcomes per label, accuracy moving as labels arrive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
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


def test_labels_sent_with_the_rows_are_joined_to_them_and_counted(
    service: Callable[..., Any], tmp_path: Any
) -> None:
    """``labels`` beside ``instances`` (a replay of labelled history): one per row, null for
    none; committed with the rows, counted as feedback, in the accuracy window, and still
    there after a restart. A row left without a label can get one from /feedback later."""
    features, target = load_example_frame("iris")
    rows = features.head(6).to_dict(orient="records")
    truth: list[Any] = [str(t) for t in target.head(6)]
    sent = [*truth[:5], None]
    svc = service(min_labels=1, data_dir=tmp_path / "kept")
    r = svc.client.post("/predict", json={"instances": rows, "labels": sent})
    assert r.status_code == 200
    body = r.json()
    assert body["label_counts"] == {"matched": 5}
    ids, predictions = body["ids"], body["predictions"]
    expected = sum(p == t for p, t in zip(predictions[:5], truth[:5], strict=True)) / 5
    assert wait_until(lambda: accuracy_at(svc, 5)) == pytest.approx(expected)
    # the labelled rows have their label; the last row has none yet
    again = svc.client.post(
        "/feedback",
        json={"labels": [{"id": ids[0], "label": truth[0]}, {"id": ids[5], "label": truth[5]}]},
    )
    assert [x["outcome"] for x in again.json()["results"]] == ["duplicate", "matched"]
    metrics = svc.client.get("/metrics").text
    assert _sample(metrics, "inferwatch_feedback_total", outcome="matched") == 6
    assert _sample(metrics, "inferwatch_feedback_total", outcome="duplicate") == 1
    # without labels the answer is as before: no label_counts
    plain = svc.client.post("/predict", json={"instances": rows[:1]})
    assert "label_counts" not in plain.json()
    svc.stop()
    restarted = service(min_labels=1, data_dir=tmp_path / "kept")
    assert wait_until(lambda: accuracy_at(restarted, 6)) is not None


def test_unusable_labels_with_rows_are_refused_naming_the_field(
    service: Callable[..., Any],
) -> None:
    """A label that is not one of the model's classes, or a list of the wrong length, refuses
    the whole request (nothing is scored or stored) with a 422 naming the field; counted."""
    features, target = load_example_frame("iris")
    rows = features.head(3).to_dict(orient="records")
    truth = [str(t) for t in target.head(3)]
    svc = service()
    bad = svc.client.post(
        "/predict", json={"instances": rows, "labels": [truth[0], "tulip", truth[2]]}
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "labels[1]" and "'tulip'" in bad.json()["detail"]
    short = svc.client.post("/predict", json={"instances": rows, "labels": truth[:2]})
    assert short.status_code == 422 and short.json()["field"] == "labels"
    assert "3 labels" in short.json()["detail"]
    wrong_type = svc.client.post("/predict", json={"instances": rows, "labels": "setosa"})
    assert wrong_type.status_code == 422 and wrong_type.json()["field"] == "labels"
    metrics = svc.client.get("/metrics").text
    assert _sample(metrics, "inferwatch_feedback_total", outcome="invalid") == 3
    assert svc.state.store.stats().predictions == 0
    ok = svc.client.post("/predict", json={"instances": rows, "labels": truth})
    assert ok.status_code == 200 and ok.json()["label_counts"] == {"matched": 3}


def test_replay_of_a_labelled_table_joins_its_labels_with_the_rows(
    service: Callable[..., Any],
) -> None:
    """``inferwatch replay`` without a label delay: every label travels with its row to a
    real service and is matched, and /feedback is not called. A label the model does not
    know costs only itself: its batch goes again without labels, and they go to /feedback."""
    from inferwatch.replay import replay

    svc = service(min_labels=1)
    features, target = load_example_frame("iris")
    frame = features.assign(species=target.to_numpy())
    summary = replay(frame, url=svc.url, target="species", batch_size=40, in_flight=2)
    assert (summary.rows_sent, summary.errors, summary.feedback_errors) == (150, 0, 0)
    assert (summary.labels_sent, summary.labels_matched) == (150, 150)
    metrics = svc.client.get("/metrics").text
    assert _sample(metrics, "inferwatch_feedback_total", outcome="matched") == 150
    requests = {
        route: sum(
            s.value
            for family in text_string_to_metric_families(metrics)
            for s in family.samples
            if s.name == "inferwatch_http_requests_total" and s.labels.get("route") == route
        )
        for route in ("/predict", "/feedback")
    }
    assert requests == {"/predict": 4, "/feedback": 0}
    assert wait_until(lambda: accuracy_at(svc, 150)) is not None

    frame.loc[70, "species"] = "tulip"
    summary = replay(frame, url=svc.url, target="species", batch_size=40, in_flight=2)
    assert (summary.rows_sent, summary.errors, summary.feedback_errors) == (150, 0, 0)
    assert (summary.labels_sent, summary.labels_matched) == (150, 149)
    assert svc.state.store.stats().labels == 299
    metrics = svc.client.get("/metrics").text
    assert _sample(metrics, "inferwatch_feedback_total", outcome="matched") == 299
    # the refused request, then the label itself on /feedback
    assert _sample(metrics, "inferwatch_feedback_total", outcome="invalid") == 2


def test_labelled_rows_whose_id_was_stored_meanwhile_are_refused(
    service: Callable[..., Any],
) -> None:
    """Another replica may store a client's id between this one's check and its commit; with
    labels, the rows are then refused (409 naming ids), so a label never lands on a
    prediction its rows did not make."""
    features, _ = load_example_frame("iris")
    rows = features.head(1).to_dict(orient="records")
    svc = service()
    body = {"instances": rows, "ids": ["order-1"], "labels": ["virginica"]}
    assert svc.client.post("/predict", json=body).status_code == 200
    svc.state.store.existing_ids = lambda ids: []  # the check misses the stored id, as in a race
    again = svc.client.post("/predict", json={**body, "labels": ["setosa"]})
    assert again.status_code == 409 and again.json()["field"] == "ids"
    stored = svc.state.store.get("order-1")
    assert stored is not None and stored.label == "virginica"
    assert svc.state.store.stats().labels == 1
