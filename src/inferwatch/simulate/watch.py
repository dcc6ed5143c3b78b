"""Watching alerts from the outside, as an operator would: Prometheus's ``/api/v1/alerts``
(or, without Prometheus, the service's own drift and accuracy decisions), turned into
events as alerts go pending, fire and resolve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class AlertEvent:
    """An alert changed state: ``pending``, ``firing`` or ``resolved``."""

    name: str
    state: str
    labels: Mapping[str, str]
    summary: str

    def describe(self) -> str:
        """``FIRING  FeatureDriftDetected feature=clinic model=cancer severity=warning - ...``:
        the state padded to seven characters, the name, the labels that tell alerts apart,
        and while active the summary.

        >>> AlertEvent("ModelAccuracyLow", "resolved", {"model": "iris"}, "low").describe()
        'RESOLVED ModelAccuracyLow model=iris'
        """
        keys = ("feature", "source", "model", "severity")
        detail = "".join(f" {k}={self.labels[k]}" for k in keys if k in self.labels)
        text = f"{self.state.upper():<7} {self.name}{detail}"
        # a resolved alert's summary still holds the value it fired with: leave it out
        active = self.state in ("pending", "firing")
        return f"{text} - {self.summary}" if self.summary and active else text


def _alert_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


class AlertTracker:
    """Turns successive lists of active alerts (Prometheus ``/api/v1/alerts``) into events."""

    def __init__(self) -> None:
        self._state: dict[tuple[tuple[str, str], ...], tuple[str, str]] = {}

    @property
    def active(self) -> list[tuple[str, str, Mapping[str, str]]]:
        """``(name, state, labels)`` of the alerts now pending or firing."""
        return [(dict(k)["alertname"], s, dict(k)) for k, (s, _) in sorted(self._state.items())]

    def update(self, alerts: Sequence[Mapping[str, Any]]) -> list[AlertEvent]:
        events = []
        seen = set()
        for alert in alerts:
            labels = {str(k): str(v) for k, v in dict(alert.get("labels", {})).items()}
            if "alertname" not in labels:
                continue
            key = _alert_key(labels)
            seen.add(key)
            state = str(alert.get("state", "firing"))
            summary = str(dict(alert.get("annotations", {})).get("summary", ""))
            if self._state.get(key, ("", ""))[0] != state:
                events.append(AlertEvent(labels["alertname"], state, labels, summary))
            self._state[key] = (state, summary)
        for key in [k for k in self._state if k not in seen]:
            state, summary = self._state.pop(key)
            labels = dict(key)
            ended = "resolved" if state == "firing" else "inactive"
            events.append(AlertEvent(labels["alertname"], ended, labels, summary))
        return events


async def prometheus_alerts(client: httpx.AsyncClient, url: str) -> list[Mapping[str, Any]] | None:
    try:
        response = await client.get(f"{url}/api/v1/alerts")
        response.raise_for_status()
        return list(response.json()["data"]["alerts"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


async def monitor_alerts(
    client: httpx.AsyncClient, url: str, min_labels: int, accuracy_threshold: float = 0.8
) -> list[Mapping[str, Any]] | None:
    """Without Prometheus: the monitor's own decisions from the service's ``/api/snapshot``,
    in the shape of Prometheus alerts (drift per feature; labelled accuracy below
    ``accuracy_threshold`` with at least ``min_labels`` labels)."""
    try:
        response = await client.get(f"{url}/api/snapshot")
        response.raise_for_status()
        snap = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    out: list[Mapping[str, Any]] = []
    model = str(snap.get("model", ""))
    for feature in snap.get("features", []):
        if feature.get("drift_detected"):
            psi = feature.get("scores", {}).get("psi")
            out.append(
                {
                    "labels": {
                        "alertname": "FeatureDriftDetected",
                        "feature": feature["name"],
                        "model": model,
                    },
                    "annotations": {"summary": f"PSI {psi:.2f} (monitor, no Prometheus)"},
                    "state": "firing",
                }
            )
    perf = snap.get("performance", {})
    accuracy, labels = perf.get("accuracy"), perf.get("labels", 0)
    if accuracy is not None and labels >= min_labels and accuracy < accuracy_threshold:
        out.append(
            {
                "labels": {"alertname": "ModelAccuracyLow", "model": model},
                "annotations": {"summary": f"accuracy {accuracy:.0%} (monitor, no Prometheus)"},
                "state": "firing",
            }
        )
    return out


__all__ = ["AlertEvent", "AlertTracker", "monitor_alerts", "prometheus_alerts"]
