"""Model performance over a sliding time window: confusion counts, regression errors and the
label-free accuracy estimate from the model's own confidence.

The confidence estimate (mean top-class probability) equals the expected accuracy only when the
model is calibrated: among predictions made with confidence c, a share c is right. It is a hint
while labels are late, not a replacement for them; a model that grows over-confident under drift
keeps a high estimate while its real accuracy falls.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from inferwatch.core.categories import encode_categories
from inferwatch.core.profile import OTHER
from inferwatch.core.snapshot import ClassMetrics, Performance
from inferwatch.core.window import CountWindow

FloatArray = npt.NDArray[np.float64]


def _as_labels(values: npt.ArrayLike) -> npt.NDArray[np.object_]:
    arr = np.asarray(values, dtype=object).ravel()
    return np.array([None if v is None else str(v) for v in arr.tolist()], dtype=object)


def confusion_metrics(matrix: npt.NDArray[np.int64], labels: Sequence[str]) -> Performance:
    """Accuracy and per-class/macro precision, recall and F1 from a confusion matrix
    (rows = actual, columns = predicted). Zero division gives 0, and the macro average runs over
    the classes seen as actual or predicted, as scikit-learn does by default.

    >>> m = np.array([[3, 1], [0, 2]])
    >>> perf = confusion_metrics(m, ["a", "b"])
    >>> perf.labels, round(perf.accuracy, 4), round(perf.per_class["a"].recall, 4)
    (6, 0.8333, 0.75)
    """
    m = np.asarray(matrix, dtype=np.float64)
    n = int(m.sum())
    if n == 0:
        return Performance(
            labels=0, per_class={c: ClassMetrics(None, None, None, 0) for c in labels}
        )
    tp = np.diag(m)
    actual = m.sum(axis=1)
    predicted = m.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
    seen = (actual + predicted) > 0
    per_class: dict[str, ClassMetrics] = {}
    for i, c in enumerate(labels):
        if seen[i]:
            per_class[c] = ClassMetrics(
                float(precision[i]), float(recall[i]), float(f1[i]), int(actual[i])
            )
        elif c != OTHER:
            per_class[c] = ClassMetrics(None, None, None, 0)
    return Performance(
        labels=n,
        accuracy=float(tp.sum() / n),
        precision=float(precision[seen].mean()),
        recall=float(recall[seen].mean()),
        f1=float(f1[seen].mean()),
        per_class=per_class,
    )


class ConfusionWindow:
    """Confusion counts of labelled predictions over a sliding time window.

    Classes are strings; anything not in ``classes`` is counted as ``"other"``.

    >>> w = ConfusionWindow(["cat", "dog"], buckets=60, bucket_seconds=60.0)
    >>> cells = w.update_many(["cat", "dog", "dog"], ["cat", "cat", "dog"], timestamp=0.0)
    >>> perf = w.get(30.0)
    >>> round(perf.accuracy, 4), round(perf.per_class["dog"].recall, 4)
    (0.6667, 0.5)
    >>> w.get(3600.0).labels
    0
    """

    def __init__(
        self, classes: Sequence[str], buckets: int = 60, bucket_seconds: float = 60.0
    ) -> None:
        self.classes = tuple(str(c) for c in classes)
        self.labels = (*self.classes, OTHER)
        self.k = len(self.labels)
        self.window = CountWindow(self.k * self.k, buckets, bucket_seconds)

    def cells(self, actual: npt.ArrayLike, predicted: npt.ArrayLike) -> npt.NDArray[np.intp]:
        """Flat cell index ``actual * k + predicted`` per pair; -1 where either is missing."""
        a = encode_categories(_as_labels(actual), self.classes)
        p = encode_categories(_as_labels(predicted), self.classes)
        if a.shape != p.shape:
            raise ValueError("actual and predicted differ in length")
        return np.where((a >= 0) & (p >= 0), a * self.k + p, -1)

    def update_many(
        self, actual: npt.ArrayLike, predicted: npt.ArrayLike, timestamp: float
    ) -> npt.NDArray[np.intp]:
        """Count the pairs; returns the flat cells (for cumulative totals)."""
        cells = self.cells(actual, predicted)
        self.window.add(cells, timestamp)
        return cells

    def update(self, actual: str, predicted: str, timestamp: float) -> None:
        self.update_many([actual], [predicted], timestamp)

    def matrix(self, timestamp: float) -> npt.NDArray[np.int64]:
        return self.window.counts(timestamp).reshape(self.k, self.k)

    def get(self, timestamp: float) -> Performance:
        return confusion_metrics(self.matrix(timestamp), self.labels)

    def reset(self) -> None:
        self.window.reset()


class RegressionWindow:
    """Absolute and squared errors over a sliding time window.

    >>> w = RegressionWindow()
    >>> w.update_many(actual=[1.0, 2.0, 4.0], predicted=[1.5, 2.0, 3.0], timestamp=0.0)
    >>> perf = w.get(0.0)
    >>> perf.labels, perf.mae, round(perf.rmse, 4)
    (3, 0.5, 0.6455)
    """

    def __init__(self, buckets: int = 60, bucket_seconds: float = 60.0) -> None:
        self.window = CountWindow(3, buckets, bucket_seconds, dtype=np.float64)

    def update_many(
        self, actual: npt.ArrayLike, predicted: npt.ArrayLike, timestamp: float
    ) -> None:
        a = np.asarray(actual, dtype=np.float64).ravel()
        p = np.asarray(predicted, dtype=np.float64).ravel()
        if a.shape != p.shape:
            raise ValueError("actual and predicted differ in length")
        err = a - p
        err = err[np.isfinite(err)]
        self.window.add_counts(
            [float(err.size), float(np.abs(err).sum()), float((err * err).sum())], timestamp
        )

    def update(self, actual: float, predicted: float, timestamp: float) -> None:
        self.update_many([actual], [predicted], timestamp)

    def get(self, timestamp: float) -> Performance:
        n, sum_abs, sum_sq = self.window.counts(timestamp).tolist()
        if n <= 0:
            return Performance(labels=0)
        return Performance(labels=int(n), mae=sum_abs / n, rmse=float(np.sqrt(sum_sq / n)))

    def reset(self) -> None:
        self.window.reset()


CONFIDENCE_BUCKETS: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
"""Upper bounds of the top-class confidence histogram
(``inferwatch_prediction_confidence_ratio``)."""


class ConfidenceWindow:
    """Top-class probability of each prediction, taken once: its mean over a sliding window
    (the label-free accuracy estimate, valid for a calibrated model; see the module docstring)
    and its cumulative histogram over ``CONFIDENCE_BUCKETS`` (``counts`` per bucket, the last
    one past 1.0, and ``sum``; a value equal to a bound belongs to that bucket).

    >>> w = ConfidenceWindow()
    >>> w.update_many(np.array([[0.9, 0.1], [0.3, 0.7]]), timestamp=0.0)
    >>> round(w.get(0.0), 4), w.counts.tolist()[4:7], round(w.sum, 4)
    (0.8, [1, 0, 1], 1.6)
    """

    def __init__(self, buckets: int = 60, bucket_seconds: float = 60.0) -> None:
        self.window = CountWindow(2, buckets, bucket_seconds, dtype=np.float64)
        self.bounds = np.asarray(CONFIDENCE_BUCKETS, dtype=np.float64)
        self._bounds = list(CONFIDENCE_BUCKETS)
        self.counts = np.zeros(len(CONFIDENCE_BUCKETS) + 1, dtype=np.int64)
        self.sum = 0.0

    def update_many(self, probabilities: npt.ArrayLike, timestamp: float) -> None:
        """``probabilities``: rows x classes, or already the top-class probability per row."""
        p = np.asarray(probabilities, dtype=np.float64)
        top = p.max(axis=1) if p.ndim == 2 else p.ravel()
        total = float(top.sum())
        if not np.isfinite(total):  # some NaN or infinite rows: leave them out
            top = top[np.isfinite(top)]
            total = float(top.sum())
        if top.size:
            self.window.add_counts([float(top.size), total], timestamp)
            index = np.searchsorted(self.bounds, top, side="left")
            self.counts += np.bincount(index, minlength=len(self.counts))
            self.sum += total

    def update_one(self, top: float, timestamp: float) -> None:
        """One prediction's top-class probability (finite), as ``update_many`` adds it."""
        self.window.add_counts([1.0, top], timestamp)
        self.counts[bisect.bisect_left(self._bounds, top)] += 1
        self.sum += top

    def get(self, timestamp: float) -> float | None:
        n, total = self.window.counts(timestamp).tolist()
        return total / n if n > 0 else None

    def reset(self) -> None:
        """Clear the window (not the cumulative histogram)."""
        self.window.reset()


__all__ = [
    "CONFIDENCE_BUCKETS",
    "ConfidenceWindow",
    "ConfusionWindow",
    "RegressionWindow",
    "confusion_metrics",
]
