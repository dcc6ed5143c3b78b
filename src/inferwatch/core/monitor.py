"""The monitor: everything the core knows about one served model, updated batch by batch.

``observe`` bins a batch of inputs and outputs into one sliding ``CountWindow`` (all features'
fine bins end to end, plus the output's bins and a row counter), counts quality issues and keeps
cumulative totals. ``record_outcomes`` feeds labels into the performance windows. ``snapshot``
turns the window into drift scores and decisions: a plain frozen ``MonitorSnapshot``.

Like river's estimators it has two verbs, ``observe`` and ``snapshot``, and no hidden buffer:
what ``observe`` returned from is in the window. Pooling small batches is the caller's business
(the service's monitor feed). One lock guards the state: ``observe`` runs on a background
thread while ``snapshot`` may be called from the event loop.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import orjson

from inferwatch.core.binning import GridBinner
from inferwatch.core.categories import encode_categories
from inferwatch.core.drift import DriftRule, DriftScorer, FeatureScores
from inferwatch.core.performance import ConfidenceWindow, ConfusionWindow, RegressionWindow
from inferwatch.core.profile import OTHER, BinnedFeature, ReferenceProfile
from inferwatch.core.schema import (
    Batch,
    FeatureSchema,
    QualityCounts,
    SchemaError,
)
from inferwatch.core.snapshot import (
    FeatureDrift,
    MonitorSnapshot,
    Performance,
    Totals,
)
from inferwatch.core.window import CountWindow, Layout


def _as_list(values: Any) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _lookup_slots(
    values: list[Any], lookup: Mapping[Any, int], other: int, trash: int
) -> npt.NDArray[np.intp]:
    """Slots of categorical values: ``lookup`` for known categories, ``other`` for anything
    else, ``trash`` for missing ones (``None`` or NaN), as ``encode_categories`` decides."""
    n = len(values)
    slots = np.fromiter(map(lookup.get, values, itertools.repeat(other, n)), np.intp, count=n)
    rest = np.flatnonzero(slots == other)
    if rest.size:
        gone = [i for i in rest.tolist() if values[i] is None or values[i] != values[i]]
        slots[gone] = trash
    return slots


MIN_LABELS = 50
"""Labels a window needs before accuracy is reported (``INFERWATCH_MIN_LABELS``)."""


class MonitorSettings(Protocol):
    """The settings ``MonitorConfig.from_settings`` reads (``inferwatch.settings.Settings``
    has them)."""

    @property
    def window_buckets(self) -> int: ...
    @property
    def bucket_seconds(self) -> float: ...
    @property
    def min_window_rows(self) -> int: ...
    @property
    def psi_threshold(self) -> float: ...
    @property
    def min_labels(self) -> int: ...


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
    min_labels: int = MIN_LABELS
    share_threshold: float = 0.10
    alpha: float = 1e-4

    @classmethod
    def from_settings(cls, settings: MonitorSettings, **overrides: Any) -> MonitorConfig:
        """Build from the service's ``Settings`` (or anything with the same window fields);
        ``overrides`` set the other fields."""
        values: dict[str, Any] = {
            "window_buckets": settings.window_buckets,
            "bucket_seconds": settings.bucket_seconds,
            "min_window_rows": settings.min_window_rows,
            "psi_threshold": settings.psi_threshold,
            "min_labels": settings.min_labels,
        }
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
        self._out_offset = int(self._offsets[len(feats)])
        self._rows_slot = self._layout.width - 1
        self._trash = self._layout.width  # missing values are counted here, then dropped
        self._plan(schema, profile)
        self._window = CountWindow(self._layout.width, cfg.window_buckets, cfg.bucket_seconds)
        self._cum = np.zeros(self._layout.width, dtype=np.int64)
        for spec, f in zip(schema.features, feats, strict=True):
            if spec.kind != f.kind or (
                spec.kind == "categorical" and spec.categories != f.categories
            ):
                raise SchemaError(spec.name, "profile and schema disagree on this feature")
        self._scorer = DriftScorer([*feats, profile.output])
        self._ref_ratios = {id(f): tuple(f.ratios.tolist()) for f in (*feats, profile.output)}
        self._quality = schema.quality_kernel.table()
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
    def _plan(self, schema: FeatureSchema, profile: ReferenceProfile) -> None:
        """Everything ``observe`` needs per feature, computed once: slots, edges, ranges and
        category lookups that map straight to window slots."""
        feats, offsets = profile.features, self._offsets
        self._kernel = kernel = schema.quality_kernel
        self._num_names = [feats[i].name for i in self._num]
        self._binner = GridBinner(
            [feats[i].edges for i in self._num], [int(offsets[i]) for i in self._num]
        )
        self._cat_rows = []
        for i in self._cat:
            f = feats[i]
            lookup: dict[Any, int] = {c: int(offsets[i]) + j for j, c in enumerate(f.categories)}
            self._cat_rows.append((i, f.name, lookup, int(offsets[i]) + len(f.categories)))
        if kernel.numeric.tolist() != self._num or kernel.categorical.tolist() != self._cat:
            raise SchemaError("profile", "profile and schema disagree on the feature kinds")
        self._cat_other = np.array([[r[3]] for r in self._cat_rows], dtype=np.intp)
        out = profile.output
        self._out_lookup = {c: self._out_offset + j for j, c in enumerate(out.categories)}
        self._out_other = self._out_offset + len(out.categories)
        self._out_binner = GridBinner([out.edges], [self._out_offset])
        # one clean row, in plain Python (``_observe_row``): per feature its name, inner
        # edges and first slot, and the allowed range; per category feature its lookup
        lo, hi = kernel.lo.tolist(), kernel.hi.tolist()
        self._row_numeric = [
            (feats[i].name, feats[i].edges.tolist(), int(offsets[i]), lo[k], hi[k])
            for k, i in enumerate(self._num)
        ]
        self._row_categorical = [(name, lookup) for _, name, lookup, _ in self._cat_rows]
        self._out_numeric = out.kind == "numeric"
        self._out_edges = out.edges.tolist() if self._out_numeric else []

    def _category_slots(self, columns: Mapping[str, np.ndarray], n: int) -> npt.NDArray[np.intp]:
        """Window slot of every categorical value (features x rows): the category's slot, the
        feature's ``other`` slot for unknown values, ``self._trash`` for missing ones."""
        out = np.empty((len(self._cat), n), dtype=np.intp)
        for row, (i, name, lookup, other) in enumerate(self._cat_rows):
            col = columns.get(name)
            if col is None:
                out[row] = self._trash
            elif n > 20_000:  # pandas' hash table (see encode_categories)
                codes = encode_categories(np.asarray(col, dtype=object), self._feats[i].categories)
                out[row] = np.where(codes >= 0, codes + self._offsets[i], self._trash)
            else:
                out[row] = _lookup_slots(_as_list(col), lookup, other, self._trash)
        return out

    def _output_values(self, predictions: npt.ArrayLike, n: int) -> list[Any]:
        """Predicted classes as a list of ``str`` (or ``None``), as ``encode_categories`` sees
        them."""
        if isinstance(predictions, np.ndarray) and predictions.dtype.kind == "U":
            values: list[Any] = predictions.ravel().tolist()
        else:
            values = np.asarray(predictions, dtype=object).ravel().tolist()
        if values and not isinstance(values[0], str):
            values = [None if v is None else str(v) for v in values]
        if len(values) != n:
            raise SchemaError("predictions", f"expected {n} predictions, got {len(values)}")
        return values

    def _output_slots(self, predictions: npt.ArrayLike, n: int) -> npt.NDArray[np.intp]:
        out = self.profile.output
        if out.kind == "numeric":
            pred = np.asarray(predictions, dtype=np.float64).ravel()
            if pred.size != n:
                raise SchemaError("predictions", f"expected {n} predictions, got {pred.size}")
            slots = self._out_binner.slots(pred[:, None])[:, 0]
            slots[np.isnan(pred)] = self._trash
            return slots
        values = self._output_values(predictions, n)
        if n > 20_000:
            codes = encode_categories(np.array(values, dtype=object), out.categories)
            return np.where(codes >= 0, codes + self._out_offset, self._trash)
        return _lookup_slots(values, self._out_lookup, self._out_other, self._trash)

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
        columns = batch.columns if isinstance(batch, Batch) else batch
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise SchemaError("batch", f"columns of different lengths {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        if n == 1 and not (isinstance(batch, Batch) and batch.coerced_names):
            counted = self._observe_row(columns, predictions, probabilities, timestamp)
            if counted is not None:
                return counted
        kernel = self._kernel
        table = kernel.table()
        parts: list[npt.NDArray[np.intp]] = []
        mask = np.zeros(n, dtype=bool)
        if self._num:
            x = np.empty((n, len(self._num)), dtype=np.float64, order="F")
            for col, name in enumerate(self._num_names):
                values = columns.get(name)
                x[:, col] = np.nan if values is None else values
            mask |= ~kernel.numeric_issues(table, x).all(axis=1)
            slots = self._binner.slots(x)
            slots[np.isnan(x)] = self._trash
            parts.append(slots.ravel(order="K"))
        if self._cat:
            codes = self._category_slots(columns, n)  # categorical features x rows
            mask |= kernel.categorical_issues(table, codes == self._trash, codes == self._cat_other)
            parts.append(codes.ravel())
        if isinstance(batch, Batch) and batch.coerced_names:
            coerced = {name: batch.coerced[name] for name in batch.coerced_names}
            mask |= kernel.coerced_issues(table, coerced, n)
        parts.append(self._output_slots(predictions, n))
        counts = np.bincount(np.concatenate(parts), minlength=self._trash + 1)[: self._trash]
        counts[self._rows_slot] = n
        quality = QualityCounts(n, kernel.view(table), mask, table)
        with self._lock:
            self._window.add_counts(counts, timestamp)
            self._cum += counts
            self._quality += table
            self._rows_with_issues += int(mask.sum())
            if probabilities is not None and self.task == "classification":
                self._confidence.update_many(probabilities, timestamp)
        return quality

    def _observe_row(
        self,
        columns: Mapping[str, Any],
        predictions: npt.ArrayLike,
        probabilities: npt.ArrayLike | None,
        timestamp: float,
    ) -> QualityCounts | None:
        """Count one clean row as ``observe`` would, in plain Python: every value present,
        finite, in range and a known category, a known class (or a finite value) predicted,
        finite probabilities. The batch path costs some 40 numpy calls whatever the rows, which
        a row logged on its own (``Watcher.log`` in a request handler) pays in full. ``None``
        for any other row: the batch path counts it, issues and all."""
        slots: list[int] = []
        try:
            for name, edges, offset, lo, hi in self._row_numeric:
                col = columns.get(name)
                if col is None:
                    return None
                value = col[0]
                if not isinstance(value, (float, int, np.number)):  # text: the batch path's
                    return None  # conversion decides
                v = float(value)
                if not lo <= v <= hi or not math.isfinite(v):
                    return None
                slots.append(offset + bisect.bisect_left(edges, v))
            for name, lookup in self._row_categorical:
                col = columns.get(name)
                if col is None:
                    return None
                cat = lookup.get(col[0])
                if cat is None:
                    return None
                slots.append(cat)
            if not isinstance(predictions, (np.ndarray, list)) or len(predictions) != 1:
                return None
            predicted = predictions[0]
            if self._out_numeric:
                if not isinstance(predicted, (float, int, np.number)):
                    return None
                p = float(predicted)
                if not math.isfinite(p):
                    return None
                slots.append(self._out_offset + bisect.bisect_left(self._out_edges, p))
            else:
                out = self._out_lookup.get(predicted) if isinstance(predicted, str) else None
                if out is None:
                    return None
                slots.append(out)
            top = None
            if probabilities is not None and self.task == "classification":
                if not isinstance(probabilities, np.ndarray) or probabilities.shape[:1] != (1,):
                    return None
                row = probabilities.ravel().tolist()
                if probabilities.ndim != 2 or not row or not all(map(math.isfinite, row)):
                    return None
                top = float(max(row))
        except (TypeError, ValueError, LookupError):
            return None
        slots.append(self._rows_slot)
        table = self._kernel.table()
        with self._lock:
            self._window.add_slots(slots, timestamp)
            self._cum[slots] += 1
            if top is not None:
                self._confidence.update_one(top, timestamp)
        return QualityCounts(1, self._kernel.view(table), np.zeros(1, dtype=bool), table)

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

    # ------------------------------------------------------------------ saving
    def fingerprint(self) -> str:
        """What a saved state must have been taken under to be merged here: model, version,
        reference profile (bins, classes) and window shape."""
        cfg = self.config
        key = [self.model, self.model_version, cfg.window_buckets, cfg.bucket_seconds]
        text = orjson.dumps([key, self.profile.to_dict()], option=orjson.OPT_SERIALIZE_NUMPY)
        return hashlib.sha256(text).hexdigest()

    def state(self) -> dict[str, np.ndarray]:
        """Every count the monitor holds (window buckets and totals), as arrays: what
        ``merge_state`` adds back, in another process."""
        with self._lock:
            out: dict[str, np.ndarray] = {
                "cum": self._cum.copy(),
                "quality": self._quality.copy(),
                "issues": np.array([self._rows_with_issues], dtype=np.int64),
                "labeled": self._labeled.copy(),
                "confidence_counts": self._confidence.counts.copy(),
                "confidence_sum": np.array([self._confidence.sum]),
            }
            for name, window in self._windows().items():
                out[f"{name}.ids"], out[f"{name}.data"] = window.state()
        return out

    def merge_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Add a saved ``state`` (of a monitor with the same ``fingerprint``) to this one: what
        it already counted stays. Checks every shape before changing anything."""
        windows = self._windows()
        plain = {
            "cum": self._cum,
            "quality": self._quality,
            "labeled": self._labeled,
            "confidence_counts": self._confidence.counts,
        }
        for name, target in plain.items():
            if name not in state or np.shape(state[name]) != target.shape:
                raise ValueError(f"saved {name} is missing or has another shape")
        if "confidence_sum" not in state or np.shape(state["confidence_sum"]) != (1,):
            raise ValueError("saved confidence_sum is missing")
        for name, window in windows.items():
            if np.shape(state[f"{name}.data"]) != (len(state[f"{name}.ids"]), window.width):
                raise ValueError(f"saved window {name} has the wrong shape")
        with self._lock:
            for name, target in plain.items():
                target += np.asarray(state[name], dtype=target.dtype)
            self._rows_with_issues += int(state["issues"][0])
            self._confidence.sum += float(state["confidence_sum"][0])
            for name, window in windows.items():
                window.merge(state[f"{name}.ids"], state[f"{name}.data"])

    def _windows(self) -> dict[str, CountWindow]:
        return {
            "drift": self._window,
            "confusion": self._confusion.window,
            "regression": self._regression.window,
            "confidence": self._confidence.window,
        }

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
            reference_rows=int(f.n),
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
        classifies = self.task == "classification"
        confidence = tuple(self._confidence.counts.tolist()) if classifies else ()
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
            quality_issues=self._kernel.as_dict(self._quality),
            predictions=predictions,
            labeled=labeled,
            rows_with_issues=self._rows_with_issues,
            confidence_counts=confidence,
            confidence_sum=self._confidence.sum,
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


__all__ = ["MIN_LABELS", "Monitor", "MonitorConfig", "MonitorSettings"]
