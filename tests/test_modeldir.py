from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from inferwatch.lifecycle.modeldir import (
    EVALUATION_FILE,
    METADATA_FILE,
    MODEL_FILE,
    PROFILE_FILE,
    SCHEMA_FILE,
    ModelBundle,
    ModelDirError,
    build_bundle,
    load_metadata,
    load_model_dir,
    reference_performance,
    save_model_dir,
)


def mixed_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 0.5, n),
            "city": rng.choice(["paris", "lyon", "nice"], n),
        }
    )
    score = (frame["age"] - 40) / 10 + (frame["city"] == "paris") * 1.5
    frame["bought"] = np.where(score + rng.normal(0, 0.5, n) > 0.5, "yes", "no")
    return frame


def mixed_pipeline() -> object:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    encode = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )
    return Pipeline([("encode", encode), ("clf", LogisticRegression())])


@pytest.fixture(scope="module")
def pipeline_bundle() -> ModelBundle:
    frame = mixed_frame()
    model = mixed_pipeline()
    model.fit(frame.drop(columns="bought"), frame["bought"])  # type: ignore[attr-defined]
    return build_bundle(model, frame, name="shop", version="3", target="bought")


def test_build_bundle_pipeline_with_string_categoricals(pipeline_bundle: ModelBundle) -> None:
    meta = pipeline_bundle.metadata
    assert (meta.name, meta.version, meta.task, meta.target) == (
        "shop",
        "3",
        "classification",
        "bought",
    )
    assert meta.feature_names == ["age", "income", "city"]
    assert meta.classes == ["no", "yes"]
    assert set(meta.reference_performance) == {"accuracy", "f1"}
    assert 0.7 < meta.reference_performance["accuracy"] <= 1.0
    assert meta.thresholds == {"age": 0.2, "income": 0.2, "city": 0.2}
    schema = pipeline_bundle.schema
    assert [(f.name, f.kind) for f in schema.features] == [
        ("age", "numeric"),
        ("income", "numeric"),
        ("city", "categorical"),
    ]
    assert schema["city"].categories == ("lyon", "nice", "paris")
    profile = pipeline_bundle.profile
    assert profile.classes == ("no", "yes")
    assert profile.output.labels == ("no", "yes", "other")
    assert profile.feature("age").n_bins == 10
    assert profile.rows == 300


def test_build_bundle_measures_performance_on_held_out_data() -> None:
    frame = mixed_frame()
    model = mixed_pipeline()
    train, test = frame.iloc[:200], frame.iloc[200:]
    model.fit(train.drop(columns="bought"), train["bought"])  # type: ignore[attr-defined]
    bundle = build_bundle(model, train, name="s", version="1", target="bought", evaluation=test)
    predicted = model.predict(test.drop(columns="bought"))  # type: ignore[attr-defined]
    accuracy = float(np.mean(predicted == test["bought"].to_numpy()))
    assert bundle.metadata.reference_performance["accuracy"] == pytest.approx(accuracy)
    assert bundle.profile.rows == 200


def test_build_bundle_regressor() -> None:
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=200), "z": rng.normal(size=200)})
    frame["y"] = 2 * frame["x"] - frame["z"] + rng.normal(0, 0.1, 200)
    model = LinearRegression().fit(frame[["x", "z"]], frame["y"])
    bundle = build_bundle(model, frame, name="r", version="1", target="y", bins=5)
    meta = bundle.metadata
    assert meta.task == "regression" and meta.classes is None
    assert set(meta.reference_performance) == {"mae", "rmse"}
    assert meta.reference_performance["rmse"] == pytest.approx(0.1, rel=0.3)
    assert bundle.profile.output.kind == "numeric"
    assert bundle.profile.feature("x").n_bins == 5


def test_build_bundle_estimator_fitted_on_arrays() -> None:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(2)
    x = rng.normal(size=(150, 4))
    y = (x[:, 0] > 0).astype(int)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    bundle = build_bundle(model, x, name="rf", version="1")
    assert bundle.metadata.feature_names == ["f0", "f1", "f2", "f3"]
    assert bundle.metadata.classes == ["0", "1"]
    assert bundle.metadata.reference_performance == {}
    named = build_bundle(model, x, name="rf", version="1", feature_names=["a", "b", "c", "d"])
    assert named.schema.names == ("a", "b", "c", "d")
    with pytest.raises(ValueError, match="expects 4 features"):
        build_bundle(model, x[:, :3], name="rf", version="1")


def test_build_bundle_rejects_missing_columns_and_targets(pipeline_bundle: ModelBundle) -> None:
    frame = mixed_frame()
    with pytest.raises(ValueError, match="city"):
        build_bundle(pipeline_bundle.model, frame.drop(columns="city"), name="s", version="1")
    with pytest.raises(ValueError, match="target column 'label'"):
        build_bundle(pipeline_bundle.model, frame, name="s", version="1", target="label")
    with pytest.raises(TypeError, match="predict"):
        build_bundle(object(), frame, name="s", version="1")


def test_model_dir_round_trip(pipeline_bundle: ModelBundle, tmp_path: Path) -> None:
    out = save_model_dir(tmp_path / "m", pipeline_bundle)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MODEL_FILE, SCHEMA_FILE, PROFILE_FILE, METADATA_FILE, EVALUATION_FILE]
    )
    loaded = load_model_dir(out)
    assert loaded.metadata == pipeline_bundle.metadata
    assert pipeline_bundle.evaluation is not None and loaded.evaluation is not None
    pd.testing.assert_frame_equal(loaded.evaluation, pipeline_bundle.evaluation)
    assert loaded.schema == pipeline_bundle.schema
    assert loaded.profile.to_dict() == pipeline_bundle.profile.to_dict()
    rows = mixed_frame(20, seed=5).drop(columns="bought")
    np.testing.assert_array_equal(
        loaded.model.predict_proba(rows),  # type: ignore[union-attr]
        pipeline_bundle.model.predict_proba(rows),  # type: ignore[union-attr]
    )
    assert load_metadata(out) == pipeline_bundle.metadata
    assert load_model_dir(out, load_model=False).model is None


def test_model_dir_without_model_file(pipeline_bundle: ModelBundle, tmp_path: Path) -> None:
    bare = ModelBundle(pipeline_bundle.metadata, pipeline_bundle.schema, pipeline_bundle.profile)
    out = save_model_dir(tmp_path / "bare", bare)
    assert not (out / MODEL_FILE).exists()
    assert load_model_dir(out).model is None


@pytest.mark.parametrize("missing", [SCHEMA_FILE, PROFILE_FILE, METADATA_FILE])
def test_model_dir_missing_file_is_named(
    missing: str, pipeline_bundle: ModelBundle, tmp_path: Path
) -> None:
    out = save_model_dir(tmp_path / "m", pipeline_bundle)
    (out / missing).unlink()
    with pytest.raises(ModelDirError, match="missing") as err:
        load_model_dir(out)
    assert err.value.path == out / missing


@pytest.mark.parametrize("bad", [SCHEMA_FILE, PROFILE_FILE, METADATA_FILE, MODEL_FILE])
def test_model_dir_corrupt_file_is_named(
    bad: str, pipeline_bundle: ModelBundle, tmp_path: Path
) -> None:
    out = save_model_dir(tmp_path / "m", pipeline_bundle)
    (out / bad).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelDirError) as err:
        load_model_dir(out)
    assert err.value.path == out / bad
    assert bad in str(err.value)


def test_model_dir_bad_metadata_names_the_field(
    pipeline_bundle: ModelBundle, tmp_path: Path
) -> None:
    out = save_model_dir(tmp_path / "m", pipeline_bundle)
    meta = json.loads((out / METADATA_FILE).read_text())
    meta["task"] = "ranking"
    (out / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelDirError, match="task") as err:
        load_model_dir(out)
    assert err.value.path == out / METADATA_FILE


def test_model_dir_feature_without_schema_spec(
    pipeline_bundle: ModelBundle, tmp_path: Path
) -> None:
    out = save_model_dir(tmp_path / "m", pipeline_bundle)
    meta = json.loads((out / METADATA_FILE).read_text())
    meta["feature_names"].append("height")
    (out / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelDirError, match="height"):
        load_model_dir(out)


def test_model_dir_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelDirError, match="inferwatch train"):
        load_model_dir(tmp_path / "nowhere")


def test_reference_performance_against_sklearn() -> None:
    from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error

    y = np.array(["a", "b", "b", "c", "a"])
    p = np.array(["a", "b", "c", "c", "b"])
    got = reference_performance("classification", y, p)
    assert got["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert got["f1"] == pytest.approx(f1_score(y, p, average="macro"))
    yr, pr = np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 3.0])
    got = reference_performance("regression", yr, pr)
    assert got["mae"] == pytest.approx(mean_absolute_error(yr, pr))
    assert got["rmse"] == pytest.approx(np.sqrt(np.mean((yr - pr) ** 2)))


def test_infer_task_is_one_answer_for_estimators_and_loaded_models() -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from inferwatch.lifecycle.loaders import LoadedModel, loaded_task
    from inferwatch.lifecycle.modeldir import infer_task

    class ProbabilitiesOnly:  # no classes_, no estimator type: class probabilities decide
        def predict(self, x: object) -> object:
            return x

        def predict_proba(self, x: object) -> object:
            return x

    class ValuesOnly:
        def predict(self, x: object) -> object:
            return x

    cases = {
        LogisticRegression(): "classification",
        LinearRegression(): "regression",
        ProbabilitiesOnly(): "classification",
        ValuesOnly(): "regression",
    }
    for model, task in cases.items():
        assert infer_task(model) == task
        assert loaded_task(LoadedModel(model, "test", "sklearn")) == task
