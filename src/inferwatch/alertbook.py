"""The alert book: what Alertmanager told inferwatch through its webhook.

Alertmanager posts notifications (webhook payload version 4) to ``POST /alerts``. The book
keeps the alerts that are firing and a bounded list of recently resolved ones, keyed by the
alert fingerprint, and counts every alert it received by ``(alertname, status)``. It is pure:
no I/O and no clock; the receive time comes in as an argument.

>>> book = AlertBook()
>>> payload = WebhookPayload.model_validate({
...     "version": "4", "status": "firing", "receiver": "inferwatch",
...     "alerts": [{"status": "firing", "fingerprint": "a1",
...                 "labels": {"alertname": "FeatureDriftDetected", "model": "iris"},
...                 "startsAt": "2026-01-01T00:00:00Z"}]})
>>> book.ingest(payload, received_at=1.0)
1
>>> [a.alertname for a in book.firing()]
['FeatureDriftDetected']
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AlertStatus = Literal["firing", "resolved"]

_ZERO_TIME = datetime(1, 1, 1, tzinfo=timezone.utc)
"""Alertmanager's ``endsAt`` for an alert that has not ended (Go's zero time)."""


class WebhookAlert(BaseModel):
    """One alert inside an Alertmanager webhook notification."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    status: AlertStatus
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = Field(min_length=1, max_length=128)


class WebhookPayload(BaseModel):
    """An Alertmanager webhook notification, payload version 4."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    version: Literal["4"]
    status: AlertStatus
    receiver: str = ""
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[WebhookAlert] = Field(max_length=10_000)


@dataclass(frozen=True)
class AlertRecord:
    """The last known state of one alert (one fingerprint)."""

    fingerprint: str
    status: AlertStatus
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    received_at: float
    """When inferwatch last heard about this alert (Unix seconds)."""

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def model(self) -> str | None:
        return self.labels.get("model")

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view for ``GET /api/alerts`` and the dashboard."""
        return {
            "fingerprint": self.fingerprint,
            "alertname": self.alertname,
            "status": self.status,
            "severity": self.severity,
            "model": self.model,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat() if self.ends_at is not None else None,
            "generator_url": self.generator_url,
            "received_at": self.received_at,
        }


class AlertBook:
    """Firing and recently resolved alerts, by fingerprint, plus received counts.

    ``max_resolved`` bounds the resolved list (oldest forgotten first); firing alerts are
    bounded by what Alertmanager sends. Safe to call from several threads.
    """

    def __init__(self, max_resolved: int = 200) -> None:
        if max_resolved < 0:
            raise ValueError("max_resolved must be >= 0")
        self._max_resolved = max_resolved
        self._firing: dict[str, AlertRecord] = {}
        self._resolved: OrderedDict[str, AlertRecord] = OrderedDict()
        self._received: dict[tuple[str, str], int] = {}
        self._notifications = 0
        self._rejected = 0
        self._lock = threading.Lock()

    def ingest(self, payload: WebhookPayload, received_at: float) -> int:
        """Apply one notification; returns how many of its alerts changed the book.

        A ``firing`` alert that Alertmanager had already resolved (same fingerprint, same or
        earlier start) is a late duplicate and is ignored; a later start is a new episode.
        """
        changed = 0
        with self._lock:
            self._notifications += 1
            for alert in payload.alerts:
                key = (alert.labels.get("alertname", ""), alert.status)
                self._received[key] = self._received.get(key, 0) + 1
                if self._apply(alert, received_at):
                    changed += 1
        return changed

    def reject(self) -> None:
        """Count a notification that could not be parsed."""
        with self._lock:
            self._rejected += 1

    def _apply(self, alert: WebhookAlert, received_at: float) -> bool:
        ends_at = alert.ends_at if alert.ends_at and alert.ends_at > _ZERO_TIME else None
        record = AlertRecord(
            fingerprint=alert.fingerprint,
            status=alert.status,
            labels=dict(alert.labels),
            annotations=dict(alert.annotations),
            starts_at=alert.starts_at,
            ends_at=ends_at,
            generator_url=alert.generator_url,
            received_at=received_at,
        )
        fp = alert.fingerprint
        if alert.status == "firing":
            previous = self._resolved.get(fp)
            if previous is not None and alert.starts_at <= previous.starts_at:
                return False
            self._resolved.pop(fp, None)
            self._firing[fp] = record
            return True
        self._firing.pop(fp, None)
        self._resolved.pop(fp, None)
        self._resolved[fp] = record
        while len(self._resolved) > self._max_resolved:
            self._resolved.popitem(last=False)
        return True

    def firing(self) -> list[AlertRecord]:
        """Firing alerts, most severe first, then by start time."""
        with self._lock:
            records = list(self._firing.values())
        return sorted(records, key=lambda r: (_severity_rank(r.severity), r.starts_at))

    def resolved(self) -> list[AlertRecord]:
        """Recently resolved alerts, newest first."""
        with self._lock:
            return list(reversed(self._resolved.values()))

    def is_firing(self, alertname: str, model: str | None = None) -> bool:
        """Whether an alert of that name (and model, if given) is firing."""
        return any(
            r.alertname == alertname and (model is None or r.model == model) for r in self.firing()
        )

    def received_counts(self) -> dict[tuple[str, str], int]:
        """``(alertname, status)`` to the number of alerts received with that status."""
        with self._lock:
            return dict(self._received)

    @property
    def notifications(self) -> int:
        """Notifications (webhook calls) accepted."""
        return self._notifications

    @property
    def rejected(self) -> int:
        """Notifications refused as malformed."""
        return self._rejected

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view of the whole book."""
        return {
            "firing": [r.to_dict() for r in self.firing()],
            "resolved": [r.to_dict() for r in self.resolved()],
            "received": [
                {"alertname": name, "status": status, "count": count}
                for (name, status), count in sorted(self.received_counts().items())
            ],
            "notifications": self.notifications,
            "rejected": self.rejected,
        }


_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def _severity_rank(severity: str) -> int:
    return _SEVERITY_ORDER.get(severity, len(_SEVERITY_ORDER))


__all__ = ["AlertBook", "AlertRecord", "AlertStatus", "WebhookAlert", "WebhookPayload"]
