"""Operational routes: health, readiness, snapshot and the in-memory history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.waiting import wait_until

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def test_health_and_readiness(service: Callable[..., Any]) -> None:
    svc = service()
    assert svc.client.get("/healthz").json() == {"status": "ok"}
    ready = svc.client.get("/readyz")
    assert ready.status_code == 200
    assert {k: v["ok"] for k, v in ready.json()["checks"].items()} == {
        "model": True,
        "store": True,
        "writer": True,
        "window": True,
    }


def test_readiness_fails_when_the_store_is_gone(service: Callable[..., Any]) -> None:
    svc = service()
    svc.state.store.close()
    r = svc.client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["store"]["ok"] is False
    # a prediction that cannot be stored is not acknowledged
    assert svc.client.post("/predict", json=ROW).status_code == 503


def test_snapshot_reports_model_and_window(service: Callable[..., Any]) -> None:
    svc = service()
    svc.client.post("/predict", json={"instances": [ROW] * 5})
    snap = wait_until(
        lambda: (s := svc.client.get("/api/snapshot").json())["window_rows"] == 5 and s
    )
    assert snap["model"] == "iris" and snap["task"] == "classification"
    assert [f["name"] for f in snap["features"]] == list(ROW)
    assert snap["totals"]["predictions"]["setosa"] == 5
    assert snap["service"]["model"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert "alerts" in snap


def test_history_keeps_points(service: Callable[..., Any]) -> None:
    svc = service(history_interval_seconds=0.1)
    for _ in range(3):
        svc.client.post("/predict", json=ROW)
    points = wait_until(
        lambda: [
            p for p in svc.client.get("/api/history").json()["points"] if p["window_rows"] == 3
        ]
    )
    assert {"accuracy", "estimated_accuracy", "rps", "p95_seconds", "error_rate", "drift"} <= set(
        points[-1]
    )
    assert set(points[-1]["drift"]) == set(ROW)
    later = svc.client.get("/api/history", params={"since": points[-1]["timestamp"]}).json()
    assert all(p["timestamp"] > points[-1]["timestamp"] for p in later["points"])


def test_restart_rebuilds_the_window_once(service: Callable[..., Any], tmp_path: Any) -> None:
    """A restart replays what the store held before it, and what comes in after is counted
    once, not again by the replay."""
    data_dir = tmp_path / "shared"
    first = service(data_dir=data_dir)
    assert first.client.post("/predict", json={"instances": [ROW] * 5}).status_code == 200
    first.stop()
    again = service(data_dir=data_dir)
    assert again.client.get("/readyz").json()["checks"]["window"]["ok"] is True
    assert again.client.post("/predict", json={"instances": [ROW] * 3}).status_code == 200
    snap = wait_until(
        lambda: (s := again.client.get("/api/snapshot").json())["window_rows"] == 8 and s
    )
    assert snap["service"]["rebuilt"] == {"predictions": 5, "labels": 0}
