"""Prometheus export of the monitor, built at scrape time.

``MonitorCollector`` reads one ``MonitorSnapshot`` per scrape and turns it into metric
families: nothing is copied into prometheus_client objects on the request path. Counters
come from the snapshot's cumulative ``totals``; gauges from its window.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeGuard

import numpy as np
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from inferwatch.core.performance import CONFIDENCE_BUCKETS
from inferwatch.core.quality import QUALITY_CHECKS
from inferwatch.core.snapshot import MonitorSnapshot

FEEDBACK_DELAY_BUCKETS: tuple[float, ...] = (
    1.0,
    10.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    4 * 3600.0,
    12 * 3600.0,
    86400.0,
    7 * 86400.0,
)
FEEDBACK_OUTCOMES: tuple[str, ...] = ("matched", "unknown_id", "duplicate", "invalid")


class ValueHistogram:
    """Cumulative histogram of many values at once (one ``searchsorted`` per batch).

    >>> h = ValueHistogram((1.0, 2.0))
    >>> h.update_many(np.array([0.5, 1.5, 3.0]))
    >>> h.cumulative(), h.sum
    ([1, 2, 3], 5.0)
    """

    def __init__(self, buckets: Sequence[float]) -> None:
        self.bounds = np.asarray(buckets, dtype=np.float64)
        self.counts = np.zeros(len(self.bounds) + 1, dtype=np.int64)
        self.sum = 0.0

    def update_many(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return
        # side="left": a value equal to a bound belongs to that bucket (le semantics).
        index = np.searchsorted(self.bounds, values, side="left")
        self.counts += np.bincount(index, minlength=len(self.counts))
        self.sum += float(values.sum())

    def cumulative(self) -> list[int]:
        """Counts per bucket, cumulative, the last one being ``+Inf``."""
        return [int(c) for c in np.cumsum(self.counts)]


@dataclass
class ServiceTotals:
    """Cumulative figures the service keeps beside the monitor (guarded by ``lock``).

    ``rejected_quality`` counts quality issues of requests refused before they reached the
    monitor (a missing column, a string where a number must be, a NaN the model cannot take).
    """

    lock: threading.Lock = field(default_factory=threading.Lock)
    rejected_quality: dict[tuple[str, str], int] = field(default_factory=dict)
    feedback: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FEEDBACK_OUTCOMES, 0))
    feedback_delay: ValueHistogram = field(
        default_factory=lambda: ValueHistogram(FEEDBACK_DELAY_BUCKETS)
    )

    def add_rejected(self, feature: str, check: str, count: int = 1) -> None:
        with self.lock:
            key = (feature, check)
            self.rejected_quality[key] = self.rejected_quality.get(key, 0) + count

    def add_feedback(self, outcomes: Mapping[str, int]) -> None:
        with self.lock:
            for outcome, n in outcomes.items():
                self.feedback[outcome] = self.feedback.get(outcome, 0) + n


@dataclass(frozen=True)
class ModelInfo:
    model: str
    model_version: str
    stage: str
    reference_performance: Mapping[str, float] = field(default_factory=dict)
    """Baseline measured when the model directory was made (``accuracy``/``f1`` or
    ``mae``/``rmse``); exported so alert rules can compare the live window with it."""


def _histogram(
    name: str, doc: str, labels: Sequence[str], values: Sequence[str], h: ValueHistogram
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=list(labels))
    bounds = [*(repr(float(b)) for b in h.bounds), "+Inf"]
    family.add_metric(list(values), list(zip(bounds, h.cumulative(), strict=True)), h.sum)
    return family


def _finite(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)


class CollectorSource(Protocol):
    """The part of the service state the collector reads."""

    @property
    def totals(self) -> ServiceTotals: ...

    def snapshot(self) -> MonitorSnapshot: ...

    def model_info(self) -> ModelInfo: ...


class MonitorCollector(Collector):
    """Metric families from the service state at scrape time.

    ``inferwatch.server.state.ServiceState`` is the usual ``state``.
    """

    def __init__(self, state: CollectorSource) -> None:
        self.state = state

    def collect(self) -> Iterable[Metric]:
        snap = self.state.snapshot()
        info = self.state.model_info()
        yield from monitor_families(snap, info)
        yield from service_families(self.state.totals, snap, info)


def monitor_families(snap: MonitorSnapshot, info: ModelInfo) -> Iterable[Metric]:
    """The families computed from one snapshot (everything but the service's own totals)."""
    yield from _model_families(snap, info)
    yield from _feature_families(snap, info)
    pred_drift = GaugeMetricFamily(
        "inferwatch_prediction_drift_score",
        "Drift of the model output over this process's window, by method.",
        labels=["model", "method"],
    )
    for method, score in snap.prediction.scores.items():
        if _finite(score):
            pred_drift.add_metric([info.model, method], float(score))
    yield pred_drift
    yield from _window_and_performance(snap, info)


def _model_families(snap: MonitorSnapshot, info: ModelInfo) -> Iterable[Metric]:
    """The model's identity, its reference performance and its predictions by class."""
    m, v = info.model, info.model_version
    info_family = GaugeMetricFamily(
        "inferwatch_model_info",
        "1 for the model this process serves.",
        labels=["model", "model_version", "stage"],
    )
    info_family.add_metric([m, v, info.stage], 1.0)
    yield info_family

    baseline = GaugeMetricFamily(
        "inferwatch_model_reference_performance",
        "Performance on the reference data when the model directory was made, by metric.",
        labels=["model", "metric"],
    )
    for metric, value in sorted(info.reference_performance.items()):
        if _finite(value):
            baseline.add_metric([m, metric], float(value))
    yield baseline

    predictions = CounterMetricFamily(
        "inferwatch_predictions",
        "Predictions by predicted class.",
        labels=["model", "model_version", "class"],
    )
    for cls, count in snap.totals.predictions.items():
        predictions.add_metric([m, v, str(cls)], float(count))
    yield predictions


def _feature_families(snap: MonitorSnapshot, info: ModelInfo) -> Iterable[Metric]:
    """Per feature: live bin counts, reference bin ratios, drift scores and decisions."""
    m, v = info.model, info.model_version
    mv = [m, v]
    bins_total = CounterMetricFamily(
        "inferwatch_feature_bin_observations",
        "Live observations per feature bin (for cross-replica drift).",
        labels=["model", "model_version", "feature", "bin"],
    )
    ref_ratio = GaugeMetricFamily(
        "inferwatch_feature_reference_bin_ratio",
        "Share of the reference (training) data in each feature bin.",
        labels=["model", "model_version", "feature", "bin"],
    )
    ref_rows = GaugeMetricFamily(
        "inferwatch_feature_reference_rows",
        "Rows of the reference (training) data behind each feature's reference bin ratios.",
        labels=["model", "model_version", "feature"],
    )
    drift = GaugeMetricFamily(
        "inferwatch_feature_drift_score",
        "Drift of each feature over this process's window, by method.",
        labels=["model", "feature", "method"],
    )
    detected = GaugeMetricFamily(
        "inferwatch_feature_drift_detected",
        "1 when the feature drifted (PSI over threshold with enough rows).",
        labels=["model", "feature"],
    )
    for feat in snap.features:
        observed = snap.totals.bin_observations.get(feat.name, ())
        for i, label in enumerate(feat.bins):
            count = observed[i] if i < len(observed) else 0
            bins_total.add_metric([*mv, feat.name, label], float(count))
        for label, ratio in zip(feat.bins, feat.reference_ratios, strict=False):
            ref_ratio.add_metric([*mv, feat.name, label], float(ratio))
        ref_rows.add_metric([*mv, feat.name], float(feat.reference_rows))
        for method, score in feat.scores.items():
            if _finite(score):
                drift.add_metric([m, feat.name, method], float(score))
        detected.add_metric([m, feat.name], 1.0 if feat.drift_detected else 0.0)
    yield bins_total
    yield ref_ratio
    yield ref_rows
    yield drift
    yield detected


def _window_and_performance(snap: MonitorSnapshot, info: ModelInfo) -> Iterable[Metric]:
    m, v = info.model, info.model_version
    rows = GaugeMetricFamily(
        "inferwatch_window_rows", "Rows in this process's drift window.", labels=["model"]
    )
    rows.add_metric([m], float(snap.window_rows))
    yield rows

    labeled = CounterMetricFamily(
        "inferwatch_labeled_predictions",
        "Predictions with a ground-truth label, by actual and predicted class.",
        labels=["model", "model_version", "actual", "predicted"],
    )
    for (actual, predicted), count in snap.totals.labeled.items():
        labeled.add_metric([m, v, str(actual), str(predicted)], float(count))
    yield labeled

    perf = snap.performance
    for metric, value, doc in (
        ("accuracy", perf.accuracy, "Accuracy over the label window."),
        ("precision", perf.precision, "Macro precision over the label window."),
        ("recall", perf.recall, "Macro recall over the label window."),
        ("f1", perf.f1, "Macro F1 over the label window."),
    ):
        family = GaugeMetricFamily(f"inferwatch_model_{metric}_ratio", doc, labels=["model"])
        if snap.task == "classification" and _finite(value):
            family.add_metric([m], float(value))
        yield family
    estimated = GaugeMetricFamily(
        "inferwatch_model_estimated_accuracy_ratio",
        "Label-free accuracy estimate: mean top-class confidence over the window.",
        labels=["model"],
    )
    if _finite(snap.estimated_accuracy):
        estimated.add_metric([m], float(snap.estimated_accuracy))
    yield estimated
    if snap.task == "regression":
        for name, value, doc in (
            (
                "inferwatch_model_mean_absolute_error",
                perf.mae,
                "Mean absolute error over the label window (regression).",
            ),
            (
                "inferwatch_model_root_mean_squared_error",
                perf.rmse,
                "Root mean squared error over the label window (regression).",
            ),
        ):
            family = GaugeMetricFamily(name, doc, labels=["model"])
            if _finite(value):
                family.add_metric([m], float(value))
            yield family


def service_families(
    totals: ServiceTotals, snap: MonitorSnapshot, info: ModelInfo
) -> Iterable[Metric]:
    """Families that mix the monitor's totals with the service's own (rejected requests)."""
    m, v = info.model, info.model_version
    with totals.lock:
        rejected = dict(totals.rejected_quality)
        feedback = dict(totals.feedback)
        delay = _copy(totals.feedback_delay)

    quality = CounterMetricFamily(
        "inferwatch_data_quality_issues",
        "Input data quality issues by feature and check (accepted and rejected rows).",
        labels=["model", "feature", "check"],
    )
    keys = dict.fromkeys([*snap.totals.quality_issues, *rejected])
    for feature, check in keys:
        count = snap.totals.quality_issues.get((feature, check), 0) + rejected.get(
            (feature, check), 0
        )
        quality.add_metric([m, feature, check], float(count))
    yield quality

    fb = CounterMetricFamily(
        "inferwatch_feedback",
        "Ground-truth labels received, by outcome.",
        labels=["model", "outcome"],
    )
    for outcome, count in feedback.items():
        fb.add_metric([m, outcome], float(count))
    yield fb
    yield _histogram(
        "inferwatch_feedback_delay_seconds",
        "Time from a prediction to its ground-truth label.",
        ["model"],
        [m],
        delay,
    )
    confidence = ValueHistogram(CONFIDENCE_BUCKETS)  # the monitor's, per version (a
    # regressor has no probabilities: all zero)
    if snap.totals.confidence_counts:
        confidence.counts = np.asarray(snap.totals.confidence_counts, dtype=np.int64)
        confidence.sum = snap.totals.confidence_sum
    yield _histogram(
        "inferwatch_prediction_confidence_ratio",
        "Top-class probability of each prediction.",
        ["model", "model_version"],
        [m, v],
        confidence,
    )


def _copy(h: ValueHistogram) -> ValueHistogram:
    out = ValueHistogram(tuple(h.bounds))
    out.counts = h.counts.copy()
    out.sum = h.sum
    return out


__all__ = [
    "CONFIDENCE_BUCKETS",
    "FEEDBACK_DELAY_BUCKETS",
    "FEEDBACK_OUTCOMES",
    "QUALITY_CHECKS",
    "CollectorSource",
    "ModelInfo",
    "MonitorCollector",
    "ServiceTotals",
    "ValueHistogram",
    "monitor_families",
    "service_families",
]
