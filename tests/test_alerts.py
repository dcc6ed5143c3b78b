"""AlertBook and the ``/alerts`` webhook routes (served over real HTTP on loopback)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest
from tests.support.waiting import free_port

from inferwatch.alertbook import AlertBook, WebhookAlert, WebhookPayload
from inferwatch.server.alerts import alerts_router


def alert(
    fingerprint: str,
    status: str = "firing",
    alertname: str = "FeatureDriftDetected",
    severity: str = "warning",
    model: str = "iris",
    starts_at: str = "2026-01-01T00:00:00Z",
    ends_at: str = "0001-01-01T00:00:00Z",
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": alertname, "severity": severity, "model": model},
        "annotations": {"summary": f"{alertname} on {model}"},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://127.0.0.1:9090/graph",
        "fingerprint": fingerprint,
    }


def payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "groupKey": '{}:{alertname="X"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "inferwatch",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": list(alerts),
    }


def ingest(book: AlertBook, *alerts: dict[str, Any], at: float = 0.0) -> int:
    return book.ingest(WebhookPayload.model_validate(payload(*alerts)), received_at=at)


def test_alert_book_firing_then_resolved_moves_the_alert() -> None:
    book = AlertBook()
    ingest(book, alert("a"), alert("b", alertname="ModelAccuracyLow"), at=1.0)
    assert {r.alertname for r in book.firing()} == {"FeatureDriftDetected", "ModelAccuracyLow"}
    assert book.is_firing("ModelAccuracyLow", model="iris")
    assert not book.is_firing("ModelAccuracyLow", model="cancer")

    ingest(book, alert("a", status="resolved", ends_at="2026-01-01T00:05:00Z"), at=2.0)
    assert [r.alertname for r in book.firing()] == ["ModelAccuracyLow"]
    [resolved] = book.resolved()
    assert resolved.alertname == "FeatureDriftDetected"
    assert resolved.ends_at is not None and resolved.ends_at.minute == 5
    assert resolved.received_at == 2.0


def test_alert_book_repeated_notifications_keep_one_entry_and_count_each() -> None:
    book = AlertBook()
    for _ in range(3):
        ingest(book, alert("a"))
    assert len(book.firing()) == 1
    assert book.received_counts() == {("FeatureDriftDetected", "firing"): 3}
    assert book.notifications == 3


def test_alert_book_ignores_late_firing_after_resolved() -> None:
    book = AlertBook()
    ingest(book, alert("a"))
    ingest(book, alert("a", status="resolved", ends_at="2026-01-01T00:05:00Z"))
    ingest(book, alert("a"))  # a stale repeat of the old episode, delivered late
    assert book.firing() == []
    ingest(book, alert("a", starts_at="2026-01-01T01:00:00Z"))  # a new episode
    assert [r.fingerprint for r in book.firing()] == ["a"]
    assert book.resolved() == []


def test_alert_book_bounds_resolved_and_orders_newest_first() -> None:
    book = AlertBook(max_resolved=2)
    for fp in "abc":
        ingest(book, alert(fp, status="resolved", ends_at="2026-01-01T00:05:00Z"))
    assert [r.fingerprint for r in book.resolved()] == ["c", "b"]


def test_alert_book_firing_sorted_by_severity() -> None:
    book = AlertBook()
    ingest(
        book,
        alert("i", alertname="LabelsMissing", severity="info"),
        alert("w", alertname="ModelAccuracyLow", severity="warning"),
        alert("c", alertname="ModelAccuracyCritical", severity="critical"),
    )
    assert [r.severity for r in book.firing()] == ["critical", "warning", "info"]


def test_alert_book_open_alert_has_no_end_time() -> None:
    book = AlertBook()
    ingest(book, alert("a"))
    [record] = book.firing()
    assert record.ends_at is None
    assert record.to_dict()["ends_at"] is None


def test_webhook_alert_requires_fingerprint() -> None:
    with pytest.raises(ValueError, match="fingerprint"):
        WebhookAlert.model_validate({k: v for k, v in alert("a").items() if k != "fingerprint"})


# --- the routes, served by uvicorn on a free loopback port


class Served:
    def __init__(self, base_url: str, book: AlertBook, registry: CollectorRegistry) -> None:
        self.base_url = base_url
        self.book = book
        self.registry = registry
        self.heard: list[str] = []


@pytest.fixture
def served() -> Iterator[Served]:
    book = AlertBook()
    registry = CollectorRegistry()
    port = free_port()
    result = Served(f"http://127.0.0.1:{port}", book, registry)
    app = FastAPI()
    app.include_router(
        alerts_router(
            book,
            registry=registry,
            clock=lambda: 42.0,
            listeners=[lambda alerts: result.heard.extend(a.fingerprint for a in alerts)],
        )
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield result
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_post_alerts_then_list_them(served: Served) -> None:
    with httpx.Client(base_url=served.base_url) as client:
        r = client.post("/alerts", json=payload(alert("a"), alert("b", alertname="X")))
        assert r.status_code == 200
        assert r.json() == {"received": 2, "changed": 2}
        client.post("/alerts", json=payload(alert("b", alertname="X", status="resolved")))
        body = client.get("/api/alerts").json()
    assert [a["alertname"] for a in body["firing"]] == ["FeatureDriftDetected"]
    assert body["firing"][0]["model"] == "iris"
    assert body["firing"][0]["received_at"] == 42.0
    assert [a["alertname"] for a in body["resolved"]] == ["X"]
    assert served.heard == ["a", "b", "b"]


def test_post_alerts_counts_received_alerts_in_metrics(served: Served) -> None:
    with httpx.Client(base_url=served.base_url) as client:
        client.post("/alerts", json=payload(alert("a"), alert("c")))
    text = generate_latest(served.registry).decode()
    assert (
        'inferwatch_alerts_received_total{alertname="FeatureDriftDetected",status="firing"} 2.0'
        in text
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**payload(alert("a")), "version": "3"}, "version"),
        (
            {**payload(alert("a")), "alerts": [{**alert("a"), "status": "pending"}]},
            "alerts[0].status",
        ),
        ({**payload(alert("a")), "alerts": [{**alert("a"), "labels": {}}]}, "alerts[0].labels"),
        ({k: v for k, v in payload(alert("a")).items() if k != "alerts"}, "alerts"),
        (
            {**payload(alert("a")), "alerts": [{**alert("a"), "startsAt": "soon"}]},
            "alerts[0].startsAt",
        ),
        ([1, 2], "body"),
    ],
)
def test_post_alerts_bad_payload_names_the_field(served: Served, body: object, field: str) -> None:
    with httpx.Client(base_url=served.base_url) as client:
        r = client.post("/alerts", json=body)
    assert r.status_code == 422
    assert r.json()["field"] == field
    assert field in r.json()["detail"]
    assert served.book.firing() == []
    assert served.book.rejected == 1
    assert (
        "inferwatch_alert_notifications_rejected_total 1.0"
        in generate_latest(served.registry).decode()
    )


def test_post_alerts_invalid_json_is_422(served: Served) -> None:
    with httpx.Client(base_url=served.base_url) as client:
        r = client.post(
            "/alerts", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert r.status_code == 422
    assert r.json()["field"] == "body"
