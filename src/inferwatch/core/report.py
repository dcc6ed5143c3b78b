"""Batch drift report: a reference table against a current table, feature by feature.

Numeric features get the exact two-sample KS statistic and Wasserstein distance (normalised by
the reference std, like the monitor's) plus PSI and JS on the reference-quantile bins;
categorical features get PSI, JS and the chi-square test on category counts. Each feature is
judged by the monitor's ``DriftRule``. Reading files lives in ``inferwatch.tables``; this module
only computes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from inferwatch.core.categories import (
    arrow_strings,
    as_str_objects,
    encode_categories,
    string_counts,
)
from inferwatch.core.drift import (
    DriftRule,
    QuantileSteps,
    ks_sorted,
    score_feature,
    wasserstein_sorted,
)
from inferwatch.core.profile import BinnedFeature
from inferwatch.core.schema import (
    FeatureSchema,
    FeatureSpec,
    SchemaError,
    _as_columns,
)
from inferwatch.core.snapshot import FeatureKind


@dataclass(frozen=True)
class FeatureReport:
    """Scores and decision of one feature."""

    name: str
    kind: FeatureKind
    reference_rows: int
    current_rows: int
    scores: dict[str, float]
    """``psi``, ``js`` and ``ks``, ``wasserstein`` (numeric, exact) or ``chi2`` (categorical)."""
    p_value: float
    """Chi-square homogeneity test of the bin counts."""
    share_shift: float
    threshold: float
    drift_detected: bool
    bins: tuple[str, ...]
    reference_ratios: tuple[float, ...]
    current_ratios: tuple[float, ...]


@dataclass(frozen=True)
class DriftReport:
    """Drift of every feature of ``current`` against ``reference``.

    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"x": rng.normal(size=5000), "c": rng.choice(["a", "b"], 5000)})
    >>> cur = pd.DataFrame({"x": rng.normal(1.0, 1.0, 5000), "c": rng.choice(["a", "b"], 5000)})
    >>> report = drift_report(ref, cur)
    >>> [(f.name, f.drift_detected) for f in report.features], report.drift_detected
    ([('x', True), ('c', False)], True)
    >>> round(report.features[0].scores["wasserstein"], 1)
    1.0
    """

    features: tuple[FeatureReport, ...]
    reference_rows: int
    current_rows: int
    rule: DriftRule
    bins: int
    per_feature_thresholds: Mapping[str, float] = field(default_factory=dict)

    @property
    def drift_detected(self) -> bool:
        return any(f.drift_detected for f in self.features)

    @property
    def drifted(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.drift_detected)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "bins": self.bins,
            "rule": asdict(self.rule),
            "drift_detected": self.drift_detected,
            "drifted_features": list(self.drifted),
            "features": [asdict(f) for f in self.features],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_table(self) -> str:
        """A plain-text table, one line per feature."""
        head = ["feature", "kind", "rows", "psi", "js", "ks", "wass.", "chi2", "p", "drift"]
        rows = [head]
        for f in self.features:
            s = f.scores

            def num(key: str, s: dict[str, float] = s) -> str:
                return f"{s[key]:.4f}" if key in s else "-"

            rows.append(
                [
                    f.name,
                    f.kind[:3],
                    str(f.current_rows),
                    num("psi"),
                    num("js"),
                    num("ks"),
                    num("wasserstein"),
                    f"{s['chi2']:.1f}" if "chi2" in s else "-",
                    f"{f.p_value:.2g}",
                    "DRIFT" if f.drift_detected else "ok",
                ]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = [
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
            for r in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        verdict = (
            f"drift in {len(self.drifted)} of {len(self.features)} features: "
            + ", ".join(self.drifted)
            if self.drift_detected
            else f"no drift in {len(self.features)} features"
        )
        rule = self.rule
        lines += [
            "",
            f"{verdict} (reference {self.reference_rows} rows, current {self.current_rows} rows; "
            f"drift = rows >= {rule.min_window_rows}, PSI > {rule.psi_threshold} or share shift "
            f"> {rule.share_threshold}, chi-square p < {rule.alpha:g})",
        ]
        return "\n".join(line.rstrip() for line in lines)


def _finite_part(xs: np.ndarray) -> np.ndarray:
    """The finite slice of sorted values without NaN (infinities sit at the ends)."""
    lo = int(np.searchsorted(xs, -np.inf, side="right"))
    hi = int(np.searchsorted(xs, np.inf, side="left"))
    return xs[lo:hi]


def _sorted_values(column: Any, name: str) -> np.ndarray:
    """A numeric column as a sorted float64 copy without NaN (sorted in place: one copy)."""
    if column is None:
        return np.empty(0)
    arr = np.asarray(column)
    if arr.dtype.kind not in "iuf":
        raise SchemaError(name, f"expected numbers, got dtype {arr.dtype}")
    xs = np.array(arr, dtype=np.float64)
    xs.sort()
    return xs[: int(np.searchsorted(xs, np.nan, side="left"))]  # NaN sorts last


def _category_counts(column: Any, categories: tuple[str, ...]) -> npt.NDArray[np.int64]:
    """How many values of a column fall in each category and, last, in the "other" bin
    (missing values, or a missing column, in none)."""
    if column is None:
        return np.zeros(len(categories) + 1, dtype=np.int64)
    strings = arrow_strings(column)
    if strings is not None:
        return string_counts(strings, categories)
    codes = encode_categories(as_str_objects(np.asarray(column)), categories)
    return np.bincount(codes[codes >= 0], minlength=len(categories) + 1)


def _numeric(
    name: str,
    ref: Mapping[str, Any],
    cur: Mapping[str, Any],
    bins: int,
    steps: dict[tuple[int, int], QuantileSteps],
) -> tuple[BinnedFeature, np.ndarray, dict[str, float]]:
    """Bins, counts and exact statistics of a numeric feature, each column read when the
    other is down to its sorted copy. ``steps`` keeps the ``QuantileSteps`` of each pair of
    sample sizes seen (most features have the same)."""
    xs = _sorted_values(ref.get(name), name)
    feature = BinnedFeature.numeric_sorted(name, xs, bins, resolution=1)
    ys = _sorted_values(cur.get(name), name)
    counts = feature.counts_sorted(ys)
    fx, fy = _finite_part(xs), _finite_part(ys)
    sizes = (fx.size, fy.size)
    if fx.size != fy.size and fx.size and fy.size and sizes not in steps:
        steps[sizes] = QuantileSteps(*sizes)
    ks = ks_sorted(fx, fy)
    w = wasserstein_sorted(fx, fy, steps.get(sizes), overwrite_y=True)  # fy's last use
    return feature, counts, {"ks": ks, "wasserstein": w / feature.spread}


def _table(data: Any, schema: FeatureSchema) -> tuple[Mapping[str, Any], int]:
    """The schema's columns of a table (not converted yet, perhaps not even read) and its row
    count; a missing required column raises ``SchemaError``."""
    columns = _as_columns(data, None)
    for spec in schema.features:
        if spec.name not in columns and spec.required:
            raise SchemaError(spec.name, "missing required column", "missing")
    rows = getattr(columns, "num_rows", None)
    if rows is None:
        rows = len(next(iter(columns.values()))) if columns else 0
    return columns, int(rows)


def _feature_report(
    spec: FeatureSpec,
    ref: Mapping[str, Any],
    cur: Mapping[str, Any],
    bins: int,
    rule: DriftRule,
    threshold: float,
    steps: dict[tuple[int, int], QuantileSteps],
) -> FeatureReport:
    """One feature of the report: read its two columns (one after the other), bin, score and
    decide."""
    if spec.kind == "numeric":
        feature, counts, exact = _numeric(spec.name, ref, cur, bins, steps)
    else:
        ref_counts = _category_counts(ref.get(spec.name), spec.categories)
        feature = BinnedFeature.from_counts(spec.name, ref_counts, spec.categories)
        counts = _category_counts(cur.get(spec.name), spec.categories)
        exact = {}
    fs = score_feature(feature, counts, shape=False)
    scores = fs.scores | exact
    detected = fs.rows > 0 and rule.decide(scores["psi"], fs.share, fs.p_value, fs.rows, threshold)
    total = fs.counts.sum()
    return FeatureReport(
        name=spec.name,
        kind=spec.kind,
        reference_rows=feature.n,
        current_rows=fs.rows,
        scores=scores,
        p_value=fs.p_value,
        share_shift=fs.share,
        threshold=threshold,
        drift_detected=bool(detected),
        bins=feature.labels,
        reference_ratios=tuple(feature.ratios.tolist()),
        current_ratios=tuple((fs.counts / total if total else fs.counts * 0.0).tolist()),
    )


def drift_report(
    reference: Any,
    current: Any,
    *,
    schema: FeatureSchema | None = None,
    bins: int = 10,
    psi_threshold: float = 0.2,
    per_feature_thresholds: Mapping[str, float] | None = None,
    min_window_rows: int = 200,
    share_threshold: float = 0.10,
    alpha: float = 1e-4,
    categorical: list[str] | None = None,
) -> DriftReport:
    """Compare two tables (pandas DataFrames or mappings of columns). The schema is inferred
    from ``reference`` unless given; columns only in ``current`` are ignored, schema columns
    missing from ``current`` raise ``SchemaError``."""
    schema = schema or FeatureSchema.infer(reference, categorical=categorical, ranges=False)
    ref, n_ref = _table(reference, schema)
    cur, n_cur = _table(current, schema)
    rule = DriftRule(psi_threshold, min_window_rows, share_threshold, alpha)
    overrides = dict(per_feature_thresholds or {})
    steps: dict[tuple[int, int], QuantileSteps] = {}
    reports = [  # one feature at a time: memory stays near one column's
        _feature_report(
            spec,
            ref,
            cur,
            bins,
            rule,
            float(overrides.get(spec.name, psi_threshold)),
            steps,
        )
        for spec in schema.features
    ]
    return DriftReport(tuple(reports), n_ref, n_cur, rule, bins, overrides)


__all__ = ["DriftReport", "FeatureReport", "drift_report"]
