"""``inferwatch init``: model directories from your own model and table, and clear errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from typer.testing import CliRunner

from inferwatch.cli import app
from inferwatch.lifecycle.bring import init_model_dir
from inferwatch.lifecycle.loaders import load_model
from inferwatch.lifecycle.modeldir import load_model_dir
from inferwatch.lifecycle.options import InitError, InitOptions, load_config, parse_thresholds


def churn_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "tenure": rng.uniform(0, 60, n),
            "monthly": rng.normal(70, 20, n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "region": rng.choice(["north", "south"], n),
        }
    )
    score = -0.05 * frame.tenure + 0.03 * frame.monthly + (frame.plan == "basic") * 1.5
    frame["churned"] = np.where(score + rng.normal(0, 0.5, n) > 1.0, "yes", "no")
    return frame


@pytest.fixture
def churn(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    frame = churn_frame()
    features = ["tenure", "monthly", "plan", "region"]
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), ["tenure", "monthly"]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
            ]
        ),
        LogisticRegression(max_iter=500),
    ).fit(frame[features], frame["churned"])
    model = tmp_path / "churn.joblib"
    joblib.dump(pipeline, model)
    data = tmp_path / "churn.csv"
    frame.to_csv(data, index=False)
    return model, data, frame


def test_init_pipeline_with_string_categoricals(
    churn: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    model, data, frame = churn
    out = tmp_path / "dir"
    result = init_model_dir(
        model, data, InitOptions(target="churned", out=out, psi_thresholds={"plan": 0.4})
    )
    bundle = load_model_dir(out)
    meta = bundle.metadata
    assert (meta.name, meta.task, meta.target) == ("churn", "classification", "churned")
    assert meta.feature_names == ["tenure", "monthly", "plan", "region"]
    assert [(f.name, f.kind) for f in bundle.schema.features] == [
        ("tenure", "numeric"),
        ("monthly", "numeric"),
        ("plan", "categorical"),
        ("region", "categorical"),
    ]
    assert bundle.schema["plan"].categories == ("basic", "plus", "pro")
    assert meta.classes == ["no", "yes"]
    assert meta.thresholds["plan"] == 0.4 and meta.thresholds["tenure"] == 0.2
    predicted = joblib.load(model).predict(frame[meta.feature_names])
    assert meta.reference_performance["accuracy"] == pytest.approx(
        accuracy_score(frame.churned, predicted)
    )
    assert meta.reference_performance["f1"] == pytest.approx(
        f1_score(frame.churned, predicted, average="macro")
    )
    assert bundle.profile.output.labels[:2] == ("no", "yes")  # the output distribution
    assert result.unused == ("customer_id",)  # not a model input: left out, and said so


def test_init_pandas_categories_from_parquet(tmp_path: Path) -> None:
    frame = churn_frame()
    frame["plan"] = frame["plan"].astype("category")
    features = ["tenure", "plan"]
    pipeline = make_pipeline(
        ColumnTransformer([("num", "passthrough", ["tenure"]), ("cat", OneHotEncoder(), ["plan"])]),
        RandomForestClassifier(n_estimators=5, random_state=0),
    ).fit(frame[features], frame["churned"])
    joblib.dump(pipeline, tmp_path / "m.joblib")
    frame.to_parquet(tmp_path / "ref.parquet")
    init_model_dir(
        tmp_path / "m.joblib",
        tmp_path / "ref.parquet",
        InitOptions(target="churned", out=tmp_path / "dir"),
    )
    schema = load_model_dir(tmp_path / "dir").schema
    assert schema["plan"].kind == "categorical"
    assert schema["plan"].categories == ("basic", "plus", "pro")


def test_init_regressor_records_mae_rmse_and_binned_outputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"rooms": rng.integers(1, 8, 400), "area": rng.uniform(30, 200, 400)})
    frame["price"] = 20 * frame.rooms + 3 * frame.area + rng.normal(0, 15, 400)
    regressor = Ridge().fit(frame[["rooms", "area"]], frame.price)
    with (tmp_path / "price.pkl").open("wb") as fh:
        pickle.dump(regressor, fh)
    frame.to_csv(tmp_path / "houses.csv", index=False)
    init_model_dir(
        tmp_path / "price.pkl",
        tmp_path / "houses.csv",
        InitOptions(target="price", out=tmp_path / "dir", name="houses", version="7", bins=5),
    )
    bundle = load_model_dir(tmp_path / "dir")
    meta = bundle.metadata
    assert (meta.name, meta.version, meta.task, meta.classes) == ("houses", "7", "regression", None)
    predicted = regressor.predict(frame[["rooms", "area"]])
    assert meta.reference_performance["mae"] == pytest.approx(
        mean_absolute_error(frame.price, predicted)
    )
    assert meta.reference_performance["rmse"] == pytest.approx(
        np.sqrt(mean_squared_error(frame.price, predicted))
    )
    output = bundle.profile.output
    assert output.kind == "numeric" and output.n_bins == 5
    assert np.isclose(output.ratios.sum(), 1.0)


def test_init_plain_estimator_fitted_on_an_array(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] - x[:, 2] > 0).astype(int)
    model = LogisticRegression().fit(x, y)  # no column names
    joblib.dump(model, tmp_path / "m.joblib")
    frame = pd.DataFrame(x, columns=["s1", "s2", "s3"]).assign(row_id=np.arange(200), label=y)
    frame.to_csv(tmp_path / "ref.csv", index=False)
    init_model_dir(
        tmp_path / "m.joblib",
        tmp_path / "ref.csv",
        InitOptions(target="label", exclude=("row_id",), out=tmp_path / "dir"),
    )
    meta = load_model_dir(tmp_path / "dir").metadata
    assert meta.feature_names == ["s1", "s2", "s3"]
    assert meta.classes == ["0", "1"]
    assert meta.reference_performance["accuracy"] == pytest.approx(
        accuracy_score(y, model.predict(x))
    )
    # Without --exclude the id column would be a fourth input the model does not take.
    with pytest.raises(InitError, match="expects 3 input columns"):
        init_model_dir(tmp_path / "m.joblib", tmp_path / "ref.csv", InitOptions(target="label"))


# ------------------------------------------------------------------------ clear errors


def test_missing_target_column_is_named(churn: tuple[Path, Path, pd.DataFrame]) -> None:
    model, data, _ = churn
    with pytest.raises(InitError, match="'churn_flag'") as info:
        init_model_dir(model, data, InitOptions(target="churn_flag"))
    assert info.value.column == "churn_flag"
    assert "not in the reference data" in str(info.value)


def test_column_the_model_needs_is_named(
    churn: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    model, _, frame = churn
    with pytest.raises(InitError, match="needs column 'monthly'") as info:
        init_model_dir(model, frame.drop(columns=["monthly"]), InitOptions(target="churned"))
    assert info.value.column == "monthly"


def test_model_that_cannot_score_names_the_column(
    churn: tuple[Path, Path, pd.DataFrame],
) -> None:
    model, _, frame = churn
    bad = frame.astype({"tenure": object})
    bad.loc[17, "tenure"] = "unknown"
    with pytest.raises(InitError, match="column 'tenure'") as info:
        init_model_dir(model, bad, InitOptions(target="churned"))
    assert info.value.column == "tenure"
    assert "'unknown'" in str(info.value)


def test_unknown_category_the_encoder_rejects_names_the_column(tmp_path: Path) -> None:
    frame = churn_frame()
    strict = make_pipeline(
        ColumnTransformer([("cat", OneHotEncoder(handle_unknown="error"), ["plan", "region"])]),
        LogisticRegression(),
    ).fit(frame[["plan", "region"]], frame.churned)
    joblib.dump(strict, tmp_path / "m.joblib")
    frame.loc[3, "region"] = "east"
    with pytest.raises(InitError, match="column 'region'") as info:
        init_model_dir(tmp_path / "m.joblib", frame, InitOptions(target="churned"))
    assert info.value.column == "region"


def test_kind_the_served_model_cannot_take_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"rooms": rng.integers(1, 6, 100), "area": rng.uniform(20, 90, 100)})
    frame["price"] = frame.rooms * 10 + frame.area
    model = make_pipeline(
        ColumnTransformer([("cat", OneHotEncoder(), ["rooms"]), ("num", "passthrough", ["area"])]),
        LinearRegression(),
    ).fit(frame[["rooms", "area"]], frame.price)
    joblib.dump(model, tmp_path / "m.joblib")
    # The encoder learned integer rooms; served as a category, "rooms" would arrive as text.
    with pytest.raises(InitError, match="column 'rooms' is served as text") as info:
        init_model_dir(
            tmp_path / "m.joblib", frame, InitOptions(target="price", categorical=("rooms",))
        )
    assert info.value.column == "rooms"
    assert "drop it from --categorical" in str(info.value)


def test_bad_model_file_and_bad_thresholds(tmp_path: Path) -> None:
    (tmp_path / "notes.joblib").write_bytes(b"not a pickle")
    with pytest.raises(InitError, match="cannot load model"):
        load_model(tmp_path / "notes.joblib")
    with pytest.raises(InitError, match="FEATURE=VALUE"):
        parse_thresholds(["0.3"])
    with pytest.raises(InitError, match="'age'"):
        parse_thresholds(["age=-1"])


# ------------------------------------------------------------------------ config and CLI


def test_config_file_yaml_and_toml(tmp_path: Path) -> None:
    yml = tmp_path / "init.yaml"
    yml.write_text(
        "target: churned\nexclude: [customer_id]\npsi_thresholds:\n  plan: 0.35\nbins: 8\n"
    )
    toml = tmp_path / "pyproject.toml"
    toml.write_text('[tool.inferwatch]\ntarget = "churned"\ncategorical = ["zip"]\n')
    assert load_config(yml) == {
        "target": "churned",
        "exclude": ("customer_id",),
        "psi_thresholds": {"plan": 0.35},
        "bins": 8,
    }
    assert load_config(toml) == {"target": "churned", "categorical": ("zip",)}
    (tmp_path / "typo.yaml").write_text("tagret: y\n")
    with pytest.raises(InitError, match="'tagret'"):
        load_config(tmp_path / "typo.yaml")
    merged = InitOptions(psi_thresholds={"plan": 0.35, "tenure": 0.3}).merged(
        {"psi_thresholds": {"plan": 0.5}, "name": None}
    )
    assert merged.psi_thresholds == {"plan": 0.5, "tenure": 0.3}


def test_cli_init_with_config_and_options(
    churn: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    model, data, _ = churn
    config = tmp_path / "init.yaml"
    config.write_text("target: churned\nname: from-config\npsi_thresholds:\n  tenure: 0.3\n")
    out = tmp_path / "dir"
    result = CliRunner().invoke(
        app,
        [
            "init",
            str(model),
            "--reference",
            str(data),
            "--config",
            str(config),
            "--name",
            "churn-v2",
            "--out",
            str(out),
            "--psi-threshold",
            "plan=0.5",
            "--exclude",
            "customer_id",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and f"--model-dir {out}" in result.output
    meta = load_model_dir(out).metadata
    assert meta.name == "churn-v2"  # the option wins over the file
    assert meta.thresholds["tenure"] == 0.3 and meta.thresholds["plan"] == 0.5


def test_cli_init_error_names_the_column(churn: tuple[Path, Path, pd.DataFrame]) -> None:
    model, data, _ = churn
    result = CliRunner().invoke(
        app, ["init", str(model), "--reference", str(data), "--target", "label"]
    )
    assert result.exit_code == 2
    assert "target column 'label'" in result.output


# ------------------------------------------------------------------------ MLflow


@pytest.mark.mlflow
@pytest.mark.filterwarnings("ignore:.*Any type hint:UserWarning")  # raised inside save_model
def test_init_from_an_mlflow_model_directory(
    churn: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    model, data, _ = churn
    mlflow_dir = tmp_path / "mlflow-model"
    mlflow_sklearn.save_model(
        joblib.load(model),
        str(mlflow_dir),
        serialization_format=mlflow_sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
    )
    init_model_dir(mlflow_dir, data, InitOptions(target="churned", out=tmp_path / "dir"))
    bundle = load_model_dir(tmp_path / "dir")
    assert bundle.metadata.name == "mlflow-model"
    assert bundle.metadata.feature_names == ["tenure", "monthly", "plan", "region"]
    assert bundle.model is not None and hasattr(bundle.model, "predict_proba")


@pytest.mark.mlflow
@pytest.mark.filterwarnings("ignore:.*Any type hint:UserWarning")  # raised inside log_model
def test_init_from_a_registered_model_uri(
    churn: tuple[Path, Path, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("mlflow.sklearn")

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a registry without a server
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    model, data, _ = churn
    try:
        with mlflow.start_run():
            mlflow.sklearn.log_model(
                joblib.load(model),
                name="model",
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
                registered_model_name="churn-registry",
            )
        init_model_dir(
            "models:/churn-registry/1", data, InitOptions(target="churned", out=tmp_path / "d")
        )
    finally:
        mlflow.set_tracking_uri("")
    meta = load_model_dir(tmp_path / "d").metadata
    assert (meta.name, meta.task) == ("churn-registry", "classification")


def test_baseline_from_held_out_evaluation_data(
    churn: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    model, data, _ = churn
    held_out = churn_frame(200, seed=5)
    held_out.to_parquet(tmp_path / "holdout.parquet")
    init_model_dir(
        model,
        data,
        InitOptions(
            target="churned", evaluation=tmp_path / "holdout.parquet", out=tmp_path / "dir"
        ),
    )
    meta = load_model_dir(tmp_path / "dir").metadata
    features = meta.feature_names
    expected = accuracy_score(held_out.churned, joblib.load(model).predict(held_out[features]))
    assert meta.reference_performance["accuracy"] == pytest.approx(expected)
    with pytest.raises(InitError, match="'monthly'"):
        held_out.drop(columns=["monthly"]).to_csv(tmp_path / "bad.csv", index=False)
        init_model_dir(model, data, InitOptions(target="churned", evaluation=tmp_path / "bad.csv"))


@pytest.fixture
def coded(tmp_path: Path) -> tuple[Path, Path]:
    """A pipeline fitted on text categories ("1", "2", "3"), and a CSV whose reader turns
    those codes back into integers."""
    rng = np.random.default_rng(3)
    n = 300
    frame = pd.DataFrame(
        {
            "tenure": rng.uniform(0, 60, n),
            "plan": rng.choice(["1", "2", "3"], n),
            "region": rng.choice(["10", "20"], n),
        }
    )
    frame["churned"] = np.where((frame.plan == "1") | (frame.tenure < 10), "yes", "no")
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), ["tenure"]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
            ]
        ),
        LogisticRegression(max_iter=500),
    ).fit(frame[["tenure", "plan", "region"]], frame["churned"])
    model = tmp_path / "coded.joblib"
    joblib.dump(pipeline, model)
    csv = tmp_path / "coded.csv"
    frame.to_csv(csv, index=False)
    assert pd.read_csv(csv)["plan"].dtype.kind == "i"
    return model, csv


def test_init_integer_codes_without_categorical_names_the_columns_and_the_fix(
    coded: tuple[Path, Path], tmp_path: Path
) -> None:
    model, csv = coded
    with pytest.raises(InitError) as caught:
        init_model_dir(model, csv, InitOptions(target="churned", out=tmp_path / "m"))
    message = str(caught.value)
    assert "'plan'" in message and "'region'" in message and "'tenure'" not in message
    assert "--categorical plan,region" in message
    assert caught.value.column == "plan"


def test_init_casts_categorical_integer_codes_before_scoring(
    coded: tuple[Path, Path], tmp_path: Path
) -> None:
    model, csv = coded
    options = InitOptions(target="churned", categorical=("plan", "region"), out=tmp_path / "m")
    result = init_model_dir(model, csv, options)
    schema = result.bundle.schema
    assert schema["plan"].kind == "categorical"
    assert set(schema["plan"].categories) == {"1", "2", "3"}
    # the written directory serves rows with the codes as text, the way the service sends them
    bundle = load_model_dir(tmp_path / "m")
    reference = pd.read_csv(csv)
    assert bundle.metadata.reference_performance["accuracy"] > 0.9
    assert len(reference) == 300
