from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from inferwatch.core import ConfidenceWindow, ConfusionWindow, RegressionWindow

CLASSES = ["a", "b", "c", "d"]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_confusion_window_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    probs = rng.dirichlet(np.ones(4))
    actual = rng.choice(CLASSES, n, p=probs)
    predicted = np.where(rng.random(n) < 0.7, actual, rng.choice(CLASSES[:3], n))
    w = ConfusionWindow(CLASSES)
    half = n // 2
    w.update_many(actual[:half], predicted[:half], timestamp=10.0)
    w.update_many(actual[half:], predicted[half:], timestamp=70.0)
    perf = w.get(100.0)
    assert perf.labels == n
    assert perf.accuracy == pytest.approx(accuracy_score(actual, predicted))
    labels = sorted(set(actual) | set(predicted))
    p, r, f, s = precision_recall_fscore_support(
        actual, predicted, labels=labels, average=None, zero_division=0
    )
    for i, c in enumerate(labels):
        m = perf.per_class[c]
        assert (m.precision, m.recall, m.f1, m.support) == pytest.approx((p[i], r[i], f[i], s[i]))
    mp, mr, mf, _ = precision_recall_fscore_support(
        actual, predicted, average="macro", zero_division=0
    )
    assert (perf.precision, perf.recall, perf.f1) == pytest.approx((mp, mr, mf))


def test_confusion_window_slides_and_counts_unknown_as_other() -> None:
    w = ConfusionWindow(["x", "y"], buckets=2, bucket_seconds=60.0)
    w.update_many(["x", "x"], ["x", "y"], timestamp=0.0)
    w.update_many(["y", "zz"], ["y", "x"], timestamp=60.0)
    assert w.get(60.0).labels == 4
    later = w.get(120.0)
    assert later.labels == 2
    assert later.accuracy == pytest.approx(0.5)
    assert later.per_class["other"].support == 1
    assert later.per_class["x"].support == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_regression_window_matches_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=300)
    yhat = y + rng.normal(scale=0.5, size=300)
    w = RegressionWindow()
    for chunk in np.array_split(np.arange(300), 7):
        w.update_many(y[chunk], yhat[chunk], timestamp=5.0)
    perf = w.get(5.0)
    assert perf.labels == 300
    assert perf.mae == pytest.approx(np.mean(np.abs(y - yhat)))
    assert perf.rmse == pytest.approx(np.sqrt(np.mean((y - yhat) ** 2)))
    assert w.get(1e5).labels == 0


def test_confidence_window_is_mean_top_probability() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=100)
    w = ConfidenceWindow()
    w.update_many(probs, timestamp=0.0)
    assert w.get(0.0) == pytest.approx(probs.max(axis=1).mean())
    assert w.get(1e6) is None
