"""The plain, read-only view of a monitor that the exporter, the API and the dashboard read.

Window values (``drift``, ``performance``, ``estimated_accuracy``, ``window_rows``) describe
the sliding window; ``totals`` are cumulative since the process started (or since the
store was replayed, or carried over from a window snapshot) and back Prometheus counters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Task = Literal["classification", "regression"]
FeatureKind = Literal["numeric", "categorical"]
DRIFT_METHODS: tuple[str, ...] = ("psi", "js", "ks", "wasserstein", "chi2")


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one input feature (or of the model output) over the current window."""

    name: str
    kind: FeatureKind
    bins: tuple[str, ...]
    """Bin labels, stable per model version (e.g. ``"(-inf, 4.8]"`` or a category, ``"other"``)."""
    reference_ratios: tuple[float, ...]
    window_counts: tuple[int, ...]
    scores: Mapping[str, float]
    """Method name (``DRIFT_METHODS``) to score; a method that does not apply is absent."""
    threshold: float
    """PSI threshold the decision uses for this feature."""
    drift_detected: bool
    """True only when the window holds at least ``min_window_rows``, the effect is large (PSI >
    threshold, or some bin's share moved by more than the share threshold, 0.10 by default) and
    not noise (chi-square homogeneity p < 0.0001); see ``inferwatch.core.drift.DriftRule``."""
    reference_rows: int = 0
    """Rows of the reference data behind ``reference_ratios`` (the chi-square noise test
    weighs the reference's own sampling noise by it)."""


@dataclass(frozen=True)
class ClassMetrics:
    precision: float | None
    recall: float | None
    f1: float | None
    support: int


@dataclass(frozen=True)
class Performance:
    """Performance over the label window; ``None`` where there are no labels yet."""

    labels: int
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    per_class: Mapping[str, ClassMetrics] = field(default_factory=dict)
    mae: float | None = None
    rmse: float | None = None


@dataclass(frozen=True)
class Totals:
    """Cumulative counts; they only grow (Prometheus counters)."""

    rows: int
    bin_observations: Mapping[str, tuple[int, ...]]
    """Feature name to cumulative count per bin (same order as ``FeatureDrift.bins``)."""
    quality_issues: Mapping[tuple[str, str], int]
    """``(feature, check)`` to count; every schema feature x ``QUALITY_CHECKS`` is present."""
    predictions: Mapping[str, int]
    """Predicted class to count (classification); every known class is present."""
    labeled: Mapping[tuple[str, str], int]
    """``(actual, predicted)`` to count (classification)."""
    rows_with_issues: int = 0
    """Rows with at least one quality issue (for the share of rows with issues)."""
    confidence_counts: tuple[int, ...] = ()
    """Top-class confidence of each prediction, counted per bucket of
    ``inferwatch.core.performance.CONFIDENCE_BUCKETS`` (the last bucket: past the last
    bound); empty for a regressor."""
    confidence_sum: float = 0.0
    """Sum of those confidences (the histogram's ``_sum``)."""


@dataclass(frozen=True)
class MonitorSnapshot:
    model: str
    model_version: str
    task: Task
    timestamp: float
    window_rows: int
    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift
    """Drift of the model output against the reference outputs."""
    performance: Performance
    estimated_accuracy: float | None
    """Mean top-class confidence over the window (classification, calibrated-model assumption)."""
    drift_detected: bool
    """Any feature drifted."""
    totals: Totals
