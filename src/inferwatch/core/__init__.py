"""The monitoring core: pure numpy, no I/O, no clock reads. Time comes in as float seconds."""

from __future__ import annotations

from inferwatch.core.drift import (
    EPS,
    DriftRule,
    DriftScorer,
    FeatureScores,
    chi2_test,
    exact_sorted,
    js_distance,
    ks_binned,
    ks_exact,
    psi,
    score_feature,
    share_shift,
    wasserstein_binned,
    wasserstein_exact,
)
from inferwatch.core.monitor import Monitor, MonitorConfig
from inferwatch.core.performance import (
    ConfidenceWindow,
    ConfusionWindow,
    RegressionWindow,
    confusion_metrics,
)
from inferwatch.core.profile import OTHER, OUTPUT_NAME, BinnedFeature, ReferenceProfile
from inferwatch.core.quality import QUALITY_CHECKS, Check
from inferwatch.core.report import DriftReport, FeatureReport, drift_report
from inferwatch.core.schema import (
    Batch,
    FeatureSchema,
    FeatureSpec,
    QualityCounts,
    SchemaError,
    encode_categories,
)
from inferwatch.core.snapshot import (
    DRIFT_METHODS,
    ClassMetrics,
    FeatureDrift,
    MonitorSnapshot,
    Performance,
    Totals,
)
from inferwatch.core.window import CountWindow, Layout

__all__ = [
    "DRIFT_METHODS",
    "EPS",
    "OTHER",
    "OUTPUT_NAME",
    "QUALITY_CHECKS",
    "Batch",
    "BinnedFeature",
    "Check",
    "ClassMetrics",
    "ConfidenceWindow",
    "ConfusionWindow",
    "CountWindow",
    "DriftReport",
    "DriftRule",
    "DriftScorer",
    "FeatureDrift",
    "FeatureReport",
    "FeatureSchema",
    "FeatureScores",
    "FeatureSpec",
    "Layout",
    "Monitor",
    "MonitorConfig",
    "MonitorSnapshot",
    "Performance",
    "QualityCounts",
    "ReferenceProfile",
    "RegressionWindow",
    "SchemaError",
    "Totals",
    "chi2_test",
    "confusion_metrics",
    "drift_report",
    "encode_categories",
    "exact_sorted",
    "js_distance",
    "ks_binned",
    "ks_exact",
    "psi",
    "score_feature",
    "share_shift",
    "wasserstein_binned",
    "wasserstein_exact",
]
