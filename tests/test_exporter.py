"""MonitorCollector: metric families built from a real Monitor at scrape time."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from inferwatch.core.monitor import Monitor, MonitorConfig
from inferwatch.core.profile import ReferenceProfile
from inferwatch.core.quality import QUALITY_CHECKS
from inferwatch.core.schema import FeatureSchema
from inferwatch.core.snapshot import MonitorSnapshot
from inferwatch.exporter import ModelInfo, MonitorCollector, ServiceTotals, ValueHistogram
from inferwatch.system import SystemCollector


@dataclass
class Source:
    monitor: Monitor
    info: ModelInfo
    now: float = 1000.0
    totals: ServiceTotals = field(default_factory=ServiceTotals)

    def snapshot(self) -> MonitorSnapshot:
        return self.monitor.snapshot(self.now)

    def model_info(self) -> ModelInfo:
        return self.info


def _source(task: str = "classification") -> Source:
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"x": rng.normal(size=3000), "color": rng.choice(["red", "blue"], 3000)})
    schema = FeatureSchema.infer(ref)
    if task == "classification":
        outputs = rng.choice(["a", "b"], 3000).astype(object)
        profile = ReferenceProfile.build(schema, ref, outputs, "classification", ["a", "b"])
    else:
        profile = ReferenceProfile.build(schema, ref, rng.normal(size=3000), "regression")
    monitor = Monitor(
        schema,
        profile,
        MonitorConfig(min_window_rows=100, min_labels=5),
        model="m",
        model_version="3",
    )
    return Source(monitor, ModelInfo("m", "3", "production"))


def _samples(source: Source) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry()
    registry.register(MonitorCollector(source))  # type: ignore[arg-type]  # structural source
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def _get(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    matches = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    assert len(matches) == 1, (name, labels, matches)
    return matches[0]


def test_known_label_sets_start_at_zero() -> None:
    samples = _samples(_source())
    for feature in ("x", "color"):
        for check in QUALITY_CHECKS:
            assert (
                _get(samples, "inferwatch_data_quality_issues_total", feature=feature, check=check)
                == 0
            )
    for cls in ("a", "b"):
        assert _get(samples, "inferwatch_predictions_total", **{"class": cls}) == 0
    for outcome in ("matched", "unknown_id", "duplicate", "invalid"):
        assert _get(samples, "inferwatch_feedback_total", outcome=outcome) == 0
    assert (
        _get(samples, "inferwatch_model_info", model="m", model_version="3", stage="production")
        == 1
    )
    assert _get(samples, "inferwatch_window_rows", model="m") == 0
    # no labels yet: accuracy is absent rather than a misleading 0
    assert not [k for k in samples if k[0] == "inferwatch_model_accuracy_ratio"]


def test_drift_and_counts_follow_observations() -> None:
    source = _source()
    rng = np.random.default_rng(1)
    n = 500
    batch = {
        "x": rng.normal(3.0, 1.0, n),
        "color": np.array(["red"] * (n - 1) + ["green"], dtype=object),
    }
    preds = np.array(["a"] * n, dtype=object)
    probs = np.column_stack([np.full(n, 0.9), np.full(n, 0.1)])
    source.monitor.observe(batch, preds, probs, source.now)  # the monitor keeps the confidences
    source.totals.add_rejected("x", "wrong_type", 2)
    samples = _samples(source)
    assert _get(samples, "inferwatch_window_rows", model="m") == n
    assert _get(samples, "inferwatch_predictions_total", **{"class": "a"}) == n
    assert _get(samples, "inferwatch_feature_drift_detected", feature="x") == 1
    assert _get(samples, "inferwatch_feature_drift_score", feature="x", method="psi") > 0.2
    assert (
        _get(
            samples,
            "inferwatch_data_quality_issues_total",
            feature="color",
            check="unknown_category",
        )
        == 1
    )
    assert (
        _get(samples, "inferwatch_data_quality_issues_total", feature="x", check="wrong_type") == 2
    )
    assert _get(samples, "inferwatch_prediction_confidence_ratio_count", model="m") == n
    bins = sum(
        v
        for (name, ls), v in samples.items()
        if name == "inferwatch_feature_bin_observations_total" and ("feature", "x") in ls
    )
    assert bins == n
    ratios = sum(
        v
        for (name, ls), v in samples.items()
        if name == "inferwatch_feature_reference_bin_ratio" and ("feature", "x") in ls
    )
    assert ratios == pytest.approx(1.0)
    assert _get(samples, "inferwatch_model_estimated_accuracy_ratio", model="m") == pytest.approx(
        0.9
    )


def test_accuracy_and_confusion_from_outcomes() -> None:
    source = _source()
    pred = np.array(["a", "a", "b", "b", "a", "b"], dtype=object)
    true = np.array(["a", "b", "b", "b", "a", "a"], dtype=object)
    source.monitor.record_outcomes(pred, true, source.now)
    samples = _samples(source)
    assert _get(samples, "inferwatch_model_accuracy_ratio", model="m") == pytest.approx(4 / 6)
    assert _get(samples, "inferwatch_labeled_predictions_total", actual="b", predicted="a") == 1
    assert _get(samples, "inferwatch_labeled_predictions_total", actual="a", predicted="b") == 1


def test_regression_exports_mae_and_rmse() -> None:
    source = _source("regression")
    source.monitor.record_outcomes(
        np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([1.0, 2.0, 3.0, 4.0, 7.0]), source.now
    )
    samples = _samples(source)
    assert _get(samples, "inferwatch_model_mean_absolute_error", model="m") == pytest.approx(0.4)
    assert _get(samples, "inferwatch_model_root_mean_squared_error", model="m") == pytest.approx(
        np.sqrt(0.8)
    )
    assert not [k for k in samples if k[0] == "inferwatch_model_accuracy_ratio"]


def test_value_histogram_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 1.2, 1000)
    bounds = (0.25, 0.5, 0.75, 1.0)
    h = ValueHistogram(bounds)
    h.update_many(values[:400])
    h.update_many(values[400:])
    expected = [int((values <= b).sum()) for b in bounds] + [1000]
    assert h.cumulative() == expected
    assert h.sum == pytest.approx(values.sum())


def test_system_collector_reports_ratios(tmp_path: object) -> None:
    registry = CollectorRegistry()
    registry.register(SystemCollector("."))
    text = generate_latest(registry).decode()
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    for name in ("cpu", "memory", "disk"):
        assert 0.0 <= values[f"inferwatch_system_{name}_usage_ratio"] <= 1.0
