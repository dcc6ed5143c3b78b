"""The demo's alert tracker: Prometheus alert lists in, fired and resolved events out."""

from __future__ import annotations

from typing import Any

from inferwatch.local.demo import DemoPlan
from inferwatch.simulate.watch import AlertTracker


def alert(name: str, state: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} is {state}"},
        "state": state,
    }


def test_tracker_reports_pending_firing_and_resolved_once_each() -> None:
    tracker = AlertTracker()
    drift = {"feature": "clinic", "model": "cancer", "severity": "warning"}
    assert tracker.update([]) == []
    events = tracker.update([alert("FeatureDriftDetected", "pending", **drift)])
    assert [(e.name, e.state) for e in events] == [("FeatureDriftDetected", "pending")]
    assert tracker.update([alert("FeatureDriftDetected", "pending", **drift)]) == []
    events = tracker.update([alert("FeatureDriftDetected", "firing", **drift)])
    assert [(e.name, e.state) for e in events] == [("FeatureDriftDetected", "firing")]
    assert "feature=clinic" in events[0].describe()
    assert [name for name, _, _ in tracker.active] == ["FeatureDriftDetected"]
    events = tracker.update([])
    assert [(e.name, e.state) for e in events] == [("FeatureDriftDetected", "resolved")]
    assert tracker.active == []


def test_tracker_keeps_alerts_of_different_features_apart() -> None:
    tracker = AlertTracker()
    tracker.update(
        [
            alert("FeatureDriftDetected", "firing", feature="a"),
            alert("FeatureDriftDetected", "firing", feature="b"),
        ]
    )
    events = tracker.update([alert("FeatureDriftDetected", "firing", feature="b")])
    assert [(e.state, e.labels["feature"]) for e in events] == [("resolved", "a")]


def test_pending_alert_that_goes_away_is_not_reported_as_resolved() -> None:
    tracker = AlertTracker()
    tracker.update([alert("ModelAccuracyLow", "pending", model="m")])
    events = tracker.update([])
    assert [e.state for e in events] == ["inactive"]


def test_fast_demo_window_is_shorter_than_its_recovery_phases() -> None:
    plan = DemoPlan.for_mode(fast=True)
    window = plan.bucket_seconds * plan.window_buckets
    recoveries = [p.seconds for p in plan.timeline.phases if p.name == "recovery"]
    assert recoveries and min(recoveries) > window
    assert plan.timeline.duration <= 240
