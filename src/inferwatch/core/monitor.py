"""The monitor: everything the core knows about one served model, updated batch by batch.

``observe`` bins a batch of inputs and outputs into one sliding ``CountWindow`` (all features'
fine bins end to end, plus the output's bins and a row counter), counts quality issues and keeps
cumulative totals. ``record_outcomes`` feeds labels into the performance windows. ``snapshot``
turns the window into drift scores and decisions: a plain frozen ``MonitorSnapshot``.

One lock guards the state: ``observe`` runs on a background thread while ``snapshot`` may be
called from the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from inferwatch.core.drift import DriftRule, DriftScorer, FeatureScores
from inferwatch.core.performance import ConfidenceWindow, ConfusionWindow, RegressionWindow
from inferwatch.core.profile import OTHER, BinnedFeature, ReferenceProfile
from inferwatch.core.schema import FeatureSchema, QualityCounts, SchemaError, encode_categories
from inferwatch.core.snapshot import (
    QUALITY_CHECKS,
    FeatureDrift,
    MonitorSnapshot,
    Performance,
    Totals,
)
from inferwatch.core.window import CountWindow, Layout

_SMALL_BATCH = 16
"""Up to this many rows, numeric features are binned with one broadcast comparison against a
padded edge matrix (one numpy call for all features) instead of one searchsorted per feature."""


@dataclass(frozen=True)
class MonitorConfig:
    """Window and decision settings (the ``Settings`` fields of the same names).

    ``per_feature_thresholds`` overrides ``psi_threshold`` by feature name; the key
    ``"prediction"`` sets the output's threshold. ``share_threshold`` and ``alpha`` are the
    other two knobs of the drift rule (see ``DriftRule``).
    """

    window_buckets: int = 60
    bucket_seconds: float = 60.0
    min_window_rows: int = 200
    psi_threshold: float = 0.2
    per_feature_thresholds: Mapping[str, float] = field(default_factory=dict)
    min_labels: int = 50
    share_threshold: float = 0.10
    alpha: float = 1e-4

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> MonitorConfig:
        """Build from any object with the ``Settings`` attribute names."""
        names = ("window_buckets", "bucket_seconds", "min_window_rows", "psi_threshold")
        values: dict[str, Any] = {n: getattr(settings, n) for n in names}
        for name, default in (("min_labels", 50), ("share_threshold", 0.10), ("alpha", 1e-4)):
            values[name] = getattr(settings, name, default)
        values.update(overrides)
        return cls(**values)

    def threshold(self, name: str) -> float:
        return float(self.per_feature_thresholds.get(name, self.psi_threshold))


class Monitor:
    """Sliding-window drift, quality and performance of one model version.

    >>> import pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> ref = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(["a", "b"], 2000)})
    >>> schema = FeatureSchema.infer(ref)
    >>> outputs = rng.choice(["0", "1"], 2000)
    >>> profile = ReferenceProfile.build(schema, ref, outputs, "classification")
    >>> mon = Monitor(schema, profile, MonitorConfig(), model="demo", model_version="1")
    >>> live = {"x": rng.normal(2.0, 1.0, 500), "c": rng.choice(["a", "b"], 500).astype(object)}
    >>> q = mon.observe(live, rng.choice(["0", "1"], 500), None, timestamp=100.0)
    >>> snap = mon.snapshot(120.0)
    >>> snap.window_rows, [(f.name, f.drift_detected) for f in snap.features]
    (500, [('x', True), ('c', False)])
    """

    def __init__(
        self,
        schema: FeatureSchema,
        profile: ReferenceProfile,
        config: MonitorConfig | None = None,
        *,
        model: str = "model",
        model_version: str = "0",
    ) -> None:
        self.schema = schema
        self.profile = profile
        self.config = config or MonitorConfig()
        self.model = model
        self.model_version = model_version
        cfg = self.config
        self.rule = DriftRule(
            cfg.psi_threshold, cfg.min_window_rows, cfg.share_threshold, cfg.alpha
        )
        if tuple(f.name for f in profile.features) != schema.names:
            raise SchemaError("profile", "profile features do not match the schema")
        self._lock = threading.Lock()
        feats = profile.features
        self._feats = feats
        self._num = [i for i, f in enumerate(feats) if f.kind == "numeric"]
        self._cat = [i for i, f in enumerate(feats) if f.kind == "categorical"]
        self._layout = Layout([f.n_fine for f in feats] + [profile.output.n_fine, 1])
        self._offsets = self._layout.offsets
        self._num_offsets = self._offsets[self._num]
        self._out_offset = int(self._offsets[len(feats)])
        self._rows_slot = self._layout.width - 1
        max_edges = max((feats[i].edges.size for i in self._num), default=0)
        self._edge_matrix = np.full((len(self._num), max_edges), np.inf)
        for row, i in enumerate(self._num):
            e = feats[i].edges
            self._edge_matrix[row, : e.size] = e
        self._window = CountWindow(self._layout.width, cfg.window_buckets, cfg.bucket_seconds)
        self._cum = np.zeros(self._layout.width, dtype=np.int64)
        for spec, f in zip(schema.features, feats, strict=True):
            if spec.kind != f.kind or (
                spec.kind == "categorical" and spec.categories != f.categories
            ):
                raise SchemaError(spec.name, "profile and schema disagree on this feature")
        self._scorer = DriftScorer([*feats, profile.output])
        self._ref_ratios = {id(f): tuple(f.ratios.tolist()) for f in (*feats, profile.output)}
        self._quality = np.zeros((len(feats), len(QUALITY_CHECKS)), dtype=np.int64)
        self._rows_with_issues = 0
        self._classes = profile.classes
        self._confusion = ConfusionWindow(self._classes, cfg.window_buckets, cfg.bucket_seconds)
        self._labeled = np.zeros(self._confusion.k * self._confusion.k, dtype=np.int64)
        self._regression = RegressionWindow(cfg.window_buckets, cfg.bucket_seconds)
        self._confidence = ConfidenceWindow(cfg.window_buckets, cfg.bucket_seconds)

    @property
    def task(self) -> str:
        return self.profile.task

    # ------------------------------------------------------------------ binning
    def _numeric_bins(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
        """Fine bin per row and numeric feature (rows x numeric features), -1 for missing."""
        n = x.shape[0]
        if n <= _SMALL_BATCH:
            idx = (x[:, :, None] > self._edge_matrix[None, :, :]).sum(axis=2)
        else:
            idx = np.empty((n, len(self._num)), dtype=np.intp)
            for col, i in enumerate(self._num):
                idx[:, col] = np.searchsorted(self._feats[i].edges, x[:, col], side="left")
        out: npt.NDArray[np.intp] = idx.astype(np.intp, copy=False)
        out[np.isnan(x)] = -1
        return out

    def _output_bins(self, predictions: npt.ArrayLike, n: int) -> npt.NDArray[np.intp]:
        out = self.profile.output
        if out.kind == "numeric":
            pred = np.asarray(predictions, dtype=np.float64).ravel()
            idx = out.fine_index(pred)
        else:
            arr = np.asarray(predictions, dtype=object).ravel()
            if arr.size and not isinstance(arr[0], str):
                arr = np.array([None if v is None else str(v) for v in arr.tolist()], object)
            idx = encode_categories(arr, out.categories)
        if idx.size != n:
            raise SchemaError("predictions", f"expected {n} predictions, got {idx.size}")
        return idx

    # ------------------------------------------------------------------ updates
    def observe(
        self,
        batch: Mapping[str, np.ndarray],
        predictions: npt.ArrayLike,
        probabilities: npt.ArrayLike | None = None,
        timestamp: float = 0.0,
    ) -> QualityCounts:
        """Add a batch of inputs with the model's predictions (and class probabilities, rows x
        classes, if any) at ``timestamp``; returns the batch's quality counts."""
        x, cat_codes = self.schema.encode(batch)
        quality = self.schema.quality(x, cat_codes, batch)
        n = quality.rows
        parts: list[np.ndarray] = []
        if self._num:
            idx = self._numeric_bins(x)
            parts.append(np.where(idx >= 0, idx + self._num_offsets, -1).ravel())
        for i, codes in zip(self._cat, cat_codes, strict=True):
            parts.append(np.where(codes >= 0, codes + self._offsets[i], -1))
        out = self._output_bins(predictions, n)
        parts.append(np.where(out >= 0, out + self._out_offset, -1))
        flat = np.concatenate(parts)
        flat = flat[flat >= 0]
        counts = np.bincount(flat, minlength=self._layout.width)
        counts[self._rows_slot] = n
        with self._lock:
            self._window.add_counts(counts, timestamp)
            self._cum += counts
            if quality.table is not None:
                self._quality += quality.table
            self._rows_with_issues += quality.rows_with_issues
            if probabilities is not None and self.task == "classification":
                self._confidence.update_many(probabilities, timestamp)
        return quality

    def record_outcomes(
        self,
        predictions: npt.ArrayLike,
        labels: npt.ArrayLike,
        timestamp: float,
        delays: npt.ArrayLike | None = None,
    ) -> None:
        """Add ground truth for earlier predictions at ``timestamp`` (when the labels arrived).
        ``delays`` (label lag in seconds) is accepted for symmetry with the store and unused:
        the exporter measures it."""
        with self._lock:
            if self.task == "classification":
                cells = self._confusion.update_many(labels, predictions, timestamp)
                cells = cells[cells >= 0]
                self._labeled += np.bincount(cells, minlength=self._labeled.size)
            else:
                self._regression.update_many(labels, predictions, timestamp)

    def reset(self) -> None:
        """Clear the windows (not the cumulative totals)."""
        with self._lock:
            self._window.reset()
            self._confusion.reset()
            self._regression.reset()
            self._confidence.reset()

    # ------------------------------------------------------------------ reading
    def _feature_drift(self, f: BinnedFeature, fs: FeatureScores, window_rows: int) -> FeatureDrift:
        threshold = self.config.threshold(f.name)
        detected = (
            fs.rows > 0
            and window_rows >= self.rule.min_window_rows
            and self.rule.decide(fs.scores["psi"], fs.share, fs.p_value, fs.rows, threshold)
        )
        return FeatureDrift(
            name=f.name,
            kind=f.kind,
            bins=f.labels,
            reference_ratios=self._ref_ratios[id(f)],
            window_counts=tuple(fs.counts.tolist()),
            scores=fs.scores,
            threshold=threshold,
            drift_detected=bool(detected),
        )

    def _performance(self, timestamp: float) -> Performance:
        perf = (
            self._confusion.get(timestamp)
            if self.task == "classification"
            else self._regression.get(timestamp)
        )
        if perf.labels < self.config.min_labels:
            return Performance(labels=perf.labels)
        return perf

    def _totals(self) -> Totals:
        parts = self._layout.split(self._cum)
        bins = {
            f.name: tuple(int(c) for c in f.coarse(parts[i]).tolist())
            for i, f in enumerate(self._feats)
        }
        predictions: dict[str, int] = {}
        labeled: dict[tuple[str, str], int] = {}
        if self.task == "classification":
            out = parts[len(self._feats)]
            for j, c in enumerate(self.profile.output.labels):
                if c != OTHER or out[j]:
                    predictions[c] = int(out[j])
            labels = self._confusion.labels
            k = len(labels)
            for a in range(k):
                for p in range(k):
                    v = int(self._labeled[a * k + p])
                    if v or (labels[a] != OTHER and labels[p] != OTHER):
                        labeled[(labels[a], labels[p])] = v
        return Totals(
            rows=int(self._cum[self._rows_slot]),
            bin_observations=bins,
            quality_issues=self.schema.quality_dict(self._quality),
            predictions=predictions,
            labeled=labeled,
            rows_with_issues=self._rows_with_issues,
        )

    def snapshot(self, timestamp: float) -> MonitorSnapshot:
        """The window at ``timestamp`` plus cumulative totals, as plain frozen data."""
        with self._lock:
            counts = self._window.counts(timestamp)
            perf = self._performance(timestamp)
            estimate = self._confidence.get(timestamp) if self.task == "classification" else None
            totals = self._totals()
        window_rows = int(counts[self._rows_slot])
        scored = self._scorer.score(counts)
        features = tuple(
            self._feature_drift(f, fs, window_rows)
            for f, fs in zip(self._feats, scored[:-1], strict=True)
        )
        prediction = self._feature_drift(self.profile.output, scored[-1], window_rows)
        return MonitorSnapshot(
            model=self.model,
            model_version=self.model_version,
            task=self.profile.task,
            timestamp=float(timestamp),
            window_rows=window_rows,
            features=features,
            prediction=prediction,
            performance=perf,
            estimated_accuracy=estimate,
            drift_detected=any(f.drift_detected for f in features),
            totals=totals,
        )


__all__ = ["Monitor", "MonitorConfig"]
