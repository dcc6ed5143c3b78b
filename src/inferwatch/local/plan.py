"""The demo's plan: window sizes, traffic and timeline of one demo mode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inferwatch.settings import Settings
from inferwatch.simulate.timeline import Timeline

EXAMPLE = "cancer"
"""The demo's model: 30 numeric features and two categoricals, so drift shows on both kinds."""


@dataclass(frozen=True)
class DemoPlan:
    """Window sizes, traffic and timeline of one demo mode."""

    bucket_seconds: float
    window_buckets: int
    timeline: Timeline
    rate: float
    batch_size: int
    label_delay: float
    label_coverage: float
    scrape_interval: str | None = None
    """Prometheus scrape and evaluation interval (``None``: the settings' own)."""
    rule_range_seconds: float | None = None
    """Shorten every range selector of the alert and recording rules to at most this, so
    Prometheus's view follows the short window (``None``: the rules as shipped)."""

    @classmethod
    def for_mode(cls, fast: bool) -> DemoPlan:
        if fast:
            # 30 s window: a drift enters and leaves the window within half a minute.
            return cls(
                bucket_seconds=5.0,
                window_buckets=6,
                timeline=Timeline.parse("normal:20,drift:40,normal:45,accuracy_drop:40,normal:45"),
                rate=10.0,
                batch_size=4,
                label_delay=2.0,
                label_coverage=0.5,
                scrape_interval="2s",
                rule_range_seconds=30.0,
            )
        # 10 min window, matching the 10m ranges of the shipped rules; with their 5m "for"
        # each alert fires about 10 minutes into its phase and resolves within 7 minutes.
        return cls(
            bucket_seconds=30.0,
            window_buckets=20,
            timeline=Timeline.parse("normal:120,drift:900,normal:720,accuracy_drop:720,normal:720"),
            rate=10.0,
            batch_size=4,
            label_delay=10.0,
            label_coverage=0.5,
        )

    @property
    def window_seconds(self) -> float:
        return self.bucket_seconds * self.window_buckets

    def settings(self, base: Settings) -> Settings:
        """``base`` with the demo's model directory and window, Prometheus and Alertmanager
        on loopback at the configured ports (the dashboard queries that Prometheus)."""
        update: dict[str, Any] = {
            "model_dir": base.data_dir / "models" / EXAMPLE,
            "bucket_seconds": self.bucket_seconds,
            "window_buckets": self.window_buckets,
            "prometheus_url": f"http://127.0.0.1:{base.prometheus_port}",
            "alertmanager_url": f"http://127.0.0.1:{base.alertmanager_port}",
        }
        if self.scrape_interval is not None:
            update["scrape_interval"] = update["evaluation_interval"] = self.scrape_interval
        return base.model_copy(update=update)


__all__ = ["EXAMPLE", "DemoPlan"]
