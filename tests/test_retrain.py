"""Retraining promotes a candidate only when it beats the serving model on held-out labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from inferwatch.examples import load_example_frame, train_example
from inferwatch.modeldir import ModelBundle
from inferwatch.retrain import ModelRegistry, RetrainPolicy, next_version, retrain

# the operator accepts that the concept itself changed (see reference_tolerance)
SMALL = RetrainPolicy(min_labels=100, reference_tolerance=1.0)
"""iris has 150 rows: enough for these tests."""


@pytest.fixture(scope="module")
def iris() -> ModelBundle:
    return train_example("iris")


def concept_drift(labels: pd.Series[str]) -> pd.Series[str]:
    """The world changed: what was versicolor is now called virginica and vice versa."""
    swap = {"versicolor": "virginica", "virginica": "versicolor"}
    return labels.map(lambda v: swap.get(v, v))


def test_candidate_trained_on_the_new_concept_is_promoted(iris: ModelBundle) -> None:
    features, labels = load_example_frame("iris")
    result, promoted = retrain(iris, features, concept_drift(labels), trigger="alert", policy=SMALL)

    assert result.outcome == "promoted"
    assert result.trigger == "alert"
    assert result.candidate_version == "2"
    assert result.candidate_score is not None and result.current_score is not None
    assert result.candidate_score > 0.9 > 0.5 > result.current_score
    assert promoted is not None
    assert promoted.metadata.version == "2"
    assert promoted.metadata.reference_performance["accuracy"] == pytest.approx(
        result.candidate_score
    )
    # the promoted model answers with the new concept
    row = features.iloc[[60]]  # a versicolor flower
    assert labels.iloc[60] == "versicolor"
    assert str(promoted.model.predict(row)[0]) == "virginica"


def test_candidate_no_better_than_the_serving_model_is_rejected(iris: ModelBundle) -> None:
    features, labels = load_example_frame("iris")
    policy = RetrainPolicy(min_labels=100, min_improvement=0.02)
    result, promoted = retrain(iris, features, labels, policy=policy)
    assert result.outcome == "rejected"
    assert promoted is None
    assert "vs serving" in result.reason


def test_too_few_labels_is_rejected_with_the_count(iris: ModelBundle) -> None:
    features, labels = load_example_frame("iris")
    result, promoted = retrain(iris, features.head(20), labels.head(20))
    assert result.outcome == "rejected"
    assert promoted is None
    assert "20 labelled rows" in result.reason


def test_regression_candidate_compares_mae() -> None:
    from sklearn.linear_model import LinearRegression

    from inferwatch.modeldir import build_bundle

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    model = LinearRegression().fit(x, 2 * x["a"])
    bundle = build_bundle(model, x.assign(y=2 * x["a"]), name="reg", version="1", target="y")
    new_world = pd.Series(-3 * x["b"] + rng.normal(scale=0.1, size=600))
    result, promoted = retrain(bundle, x, new_world, policy=RetrainPolicy(reference_tolerance=1.0))
    assert result.metric == "mae"
    assert result.outcome == "promoted"
    assert promoted is not None
    assert result.candidate_score is not None and result.candidate_score < 0.2


def test_failing_fit_is_a_failed_run(iris: ModelBundle) -> None:
    features, labels = load_example_frame("iris")
    broken = features.assign(sepal_length=np.nan)
    result, promoted = retrain(iris, broken, labels, policy=SMALL)
    assert result.outcome == "failed"
    assert promoted is None
    assert "fitting the candidate failed" in result.reason


def test_registry_serves_the_promoted_version_after_a_restart(
    iris: ModelBundle, tmp_path: Path
) -> None:
    features, labels = load_example_frame("iris")
    _, promoted = retrain(iris, features, concept_drift(labels), policy=SMALL)
    assert promoted is not None
    registry = ModelRegistry(tmp_path / "registry")
    assert registry.load_current("iris") is None
    registry.promote(promoted)

    reopened = ModelRegistry(tmp_path / "registry").load_current("iris")
    assert reopened is not None
    assert reopened.metadata.version == "2"
    assert registry.versions("iris") == ["2"]
    assert str(reopened.model.predict(features.iloc[[60]])[0]) == "virginica"


@pytest.mark.parametrize(
    ("version", "expected"), [("1", "2"), ("9", "10"), ("v2.3", "v2.4"), ("prod", "prod-r2")]
)
def test_next_version(version: str, expected: str) -> None:
    assert next_version(version) == expected
