from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from inferwatch.cli import app
from inferwatch.lifecycle.examples import (
    CLINICS,
    EXAMPLES,
    load_example_frame,
    train_example,
)
from inferwatch.lifecycle.modeldir import load_model_dir


def test_iris_frame() -> None:
    features, target = load_example_frame("iris")
    assert list(features.columns) == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert features.shape == (150, 4)
    assert sorted(set(target)) == ["setosa", "versicolor", "virginica"]


def test_cancer_frame_has_mixed_types() -> None:
    features, target = load_example_frame("cancer")
    assert features.shape == (569, 32)
    assert "mean_radius" in features.columns and " " not in "".join(features.columns)
    assert set(features["tumor_size_band"]) == {"small", "medium", "large"}
    assert set(features["clinic"]) == set(CLINICS)
    assert all(isinstance(v, str) for v in features["clinic"].tolist())
    big = features["mean_radius"] > 16
    assert (features.loc[big, "tumor_size_band"] == "large").all()
    assert sorted(set(target)) == ["benign", "malignant"]


def test_unknown_example() -> None:
    with pytest.raises(ValueError, match="iris, cancer"):
        load_example_frame("mnist")


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_train_deterministically(name: str) -> None:
    first = train_example(name)
    second = train_example(name, version="2")
    assert first.profile.to_dict() == second.profile.to_dict()
    assert second.metadata.version == "2"
    features, _ = load_example_frame(name)
    np.testing.assert_array_equal(
        first.model.predict_proba(features),  # type: ignore[union-attr]
        second.model.predict_proba(features),  # type: ignore[union-attr]
    )
    assert first.metadata.reference_performance["accuracy"] > 0.9


def test_cancer_schema_knows_the_categoricals() -> None:
    bundle = train_example("cancer")
    assert bundle.schema["clinic"].kind == "categorical"
    assert bundle.schema["clinic"].categories == tuple(sorted(CLINICS))
    assert bundle.schema["tumor_size_band"].kind == "categorical"
    assert bundle.metadata.classes == ["benign", "malignant"]


def test_train_command_writes_a_loadable_model_dir(tmp_path: Path) -> None:
    out = tmp_path / "iris-model"
    result = CliRunner().invoke(app, ["train", "--example", "iris", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output
    bundle = load_model_dir(out)
    assert (bundle.metadata.name, bundle.metadata.version) == ("iris", "1")


def test_train_command_defaults_to_the_data_dir(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["train", "--example", "cancer", "--version", "7"],
        env={"INFERWATCH_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    bundle = load_model_dir(tmp_path / "models" / "cancer")
    assert bundle.metadata.version == "7"


def test_train_command_rejects_an_unknown_example(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--example", "mnist", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "iris, cancer" in result.output
