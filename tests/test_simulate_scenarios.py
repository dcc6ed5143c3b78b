"""The simulator's row generators: each scenario changes exactly what it claims to."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from inferwatch.simulate.scenarios import (
    ERROR_KINDS,
    ExampleData,
    bad_request,
    drift_rows,
    drift_strength,
    feedback_labels,
    sample_rows,
)
from inferwatch.simulate.timeline import Timeline


@pytest.fixture
def data() -> ExampleData:
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame(
        {
            "a": rng.normal(10.0, 2.0, n),
            "b": rng.normal(-5.0, 0.5, n),
            "c": rng.uniform(0.0, 1.0, n),
            "colour": rng.choice(["red", "green", "blue"], p=[0.6, 0.3, 0.1], size=n),
            "size": rng.choice(["s", "m", "l"], size=n),
        }
    )
    target = pd.Series(np.where(frame["a"] > 10.0, "high", "low"))
    return ExampleData.from_frame(frame, target)


def test_example_data_splits_numeric_and_categorical(data: ExampleData) -> None:
    assert data.numeric == ("a", "b", "c")
    assert data.categorical == ("colour", "size")
    assert data.categories["colour"][-1] == "blue"  # rarest last
    assert data.classes == ("high", "low")


def test_sampled_rows_carry_the_true_label_of_their_source_row(data: ExampleData) -> None:
    batch = sample_rows(data, 50, np.random.default_rng(1), noise=0.0)
    for row, label in zip(batch.rows, batch.labels, strict=True):
        expected = "high" if row["a"] > 10.0 else "low"
        assert label == expected
        json.dumps(row)  # JSON-ready values only


def test_noise_is_small_relative_to_the_reference_spread(data: ExampleData) -> None:
    rng = np.random.default_rng(3)
    batch = sample_rows(data, 2000, rng, noise=0.05)
    a = np.array([r["a"] for r in batch.rows])
    assert abs(a.mean() - data.features["a"].mean()) < 0.25 * data.std["a"]
    assert abs(a.std() / data.std["a"] - 1.0) < 0.1


@pytest.mark.parametrize("shift", [0.5, 2.0, -3.0])
def test_drift_shifts_only_the_chosen_numeric_features_by_k_std(
    data: ExampleData, shift: float
) -> None:
    rng = np.random.default_rng(2)
    batch = sample_rows(data, 300, rng)
    drifted = drift_rows(data, batch, ["a", "c"], shift, 1.0, rng)
    for name in ("a", "c"):
        before = np.array([r[name] for r in batch.rows])
        after = np.array([r[name] for r in drifted.rows])
        np.testing.assert_allclose(after - before, shift * data.std[name], atol=1e-5)
    for name in ("b", "colour", "size"):
        assert [r[name] for r in drifted.rows] == [r[name] for r in batch.rows]
    assert drifted.labels == batch.labels  # drifted rows keep their original label


def test_gradual_drift_applies_part_of_the_shift_early_in_the_phase(data: ExampleData) -> None:
    rng = np.random.default_rng(2)
    batch = sample_rows(data, 10, rng)
    strength = drift_strength("gradual", 10.0, 60.0)
    drifted = drift_rows(data, batch, ["b"], 3.0, strength, rng)
    delta = drifted.rows[0]["b"] - batch.rows[0]["b"]
    assert delta == pytest.approx(3.0 * data.std["b"] / 3.0, abs=1e-5)
    assert drift_strength("gradual", 45.0, 60.0) == 1.0
    assert drift_strength("abrupt", 0.0, 60.0) == 1.0
    with pytest.raises(ValueError, match="drift mode"):
        drift_strength("sideways", 1.0, 2.0)  # type: ignore[arg-type]  # a wrong mode on purpose


def test_drift_changes_the_category_mix_of_a_chosen_categorical(data: ExampleData) -> None:
    rng = np.random.default_rng(4)
    batch = sample_rows(data, 4000, rng)
    drifted = drift_rows(data, batch, ["colour"], 2.0, 1.0, rng)
    before = pd.Series([r["colour"] for r in batch.rows]).value_counts(normalize=True)
    after = pd.Series([r["colour"] for r in drifted.rows]).value_counts(normalize=True)
    assert before["blue"] < 0.15
    assert after["blue"] > 0.75  # the reference's rarest category now dominates
    assert [r["size"] for r in drifted.rows] == [r["size"] for r in batch.rows]
    assert [r["a"] for r in drifted.rows] == [r["a"] for r in batch.rows]


def test_drift_of_an_unknown_feature_names_it(data: ExampleData) -> None:
    batch = sample_rows(data, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="nope"):
        drift_rows(data, batch, ["nope"], 1.0, 1.0, np.random.default_rng(0))


@pytest.mark.parametrize("rate", [0.0, 0.3, 0.6, 1.0])
def test_accuracy_drop_labels_disagree_with_the_model_at_the_requested_rate(
    data: ExampleData, rate: float
) -> None:
    rng = np.random.default_rng(5)
    batch = sample_rows(data, 5000, rng)
    predictions = list(batch.labels)  # a model that is always right on these inputs
    labels = feedback_labels(batch.labels, predictions, rate, data.classes, rng)
    disagree = np.mean([str(a) != str(p) for a, p in zip(labels, predictions, strict=True)])
    # binomial sd at n=5000 is < 0.008
    assert abs(disagree - rate) < 0.03
    assert set(labels) <= set(data.classes)


def test_accuracy_drop_compares_predictions_as_strings() -> None:
    rng = np.random.default_rng(0)
    labels = feedback_labels([0, 1, 2], ["0", "1", "2"], 1.0, (0, 1, 2), rng)
    assert all(str(a) != p for a, p in zip(labels, ["0", "1", "2"], strict=True))


@pytest.mark.parametrize("kind", ERROR_KINDS)
def test_bad_requests_carry_exactly_their_defect(data: ExampleData, kind: str) -> None:
    bad = bad_request(data, np.random.default_rng(9), kind)
    assert bad.kind == kind
    if kind == "malformed_json":
        with pytest.raises(json.JSONDecodeError):
            json.loads(bad.body)
        return
    row = json.loads(bad.body)
    columns = set(data.features.columns)
    if kind == "missing_field":
        assert len(columns - set(row)) == 1
        return
    assert set(row) == columns
    if kind == "wrong_type":
        assert any(isinstance(row[n], str) for n in data.numeric)
    elif kind == "nan":
        assert any(math.isnan(row[n]) for n in data.numeric)
    elif kind == "unknown_category":
        assert "never-seen" in {row[n] for n in data.categorical}


def test_random_bad_requests_cover_every_kind(data: ExampleData) -> None:
    rng = np.random.default_rng(1)
    assert {bad_request(data, rng).kind for _ in range(200)} == set(ERROR_KINDS)


def test_timeline_plays_phases_in_order_and_ends() -> None:
    t = Timeline.incident_cycle(30.0, healthy_seconds=10.0)
    assert [p.name for p in t.phases] == [
        "healthy",
        "drift",
        "recovery",
        "accuracy_drop",
        "recovery",
    ]
    assert t.duration == 130.0
    first = t.at(5.0)
    assert first is not None and first[0].scenario == "normal"
    position = t.at(75.0)
    assert position is not None and position[0].scenario == "accuracy_drop"
    assert position[1] == pytest.approx(5.0)
    assert t.at(130.0) is None
    assert Timeline.parse(t.spec()) == t


@pytest.mark.parametrize(
    ("spec", "message"),
    [("normal:10,sideways:5", "sideways"), ("drift", "positive length"), ("drift:-1", "drift:-1")],
)
def test_timeline_rejects_bad_specs_with_a_clear_message(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Timeline.parse(spec)
