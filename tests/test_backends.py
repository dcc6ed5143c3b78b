from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.support.upstream import UpstreamServer
from tests.support.waiting import free_port, wait_until

from inferwatch.backends import (
    BackendError,
    LocalModelBackend,
    ModelBackend,
    UpstreamModelBackend,
    backend_from_settings,
)
from inferwatch.backends.upstream import parse_answer, request_payload
from inferwatch.lifecycle.examples import load_example_frame
from inferwatch.lifecycle.modeldir import (
    ModelBundle,
    ModelDirError,
    ModelMetadata,
    build_bundle,
    load_model_dir,
    save_model_dir,
)
from inferwatch.settings import Settings


def batch_of(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The core's batch layout: float64 numeric columns, object arrays of str/None."""
    out: dict[str, np.ndarray] = {}
    for name in frame.columns:
        col = frame[name]
        if col.dtype.kind in "iuf":
            out[name] = col.to_numpy(dtype=np.float64)
        else:
            out[name] = np.array(col.tolist(), dtype=object)
    return out


def expected(model: Any, features: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    labels = [str(v) for v in model.predict(features).tolist()]
    return labels, np.asarray(model.predict_proba(features))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    from inferwatch.lifecycle.examples import write_example

    out = tmp_path_factory.mktemp("iris")
    write_example("iris", out)
    return load_model_dir(out)


@pytest.fixture(scope="module")
def cancer(tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    from inferwatch.lifecycle.examples import write_example

    out = tmp_path_factory.mktemp("cancer")
    write_example("cancer", out)
    return load_model_dir(out)


# --------------------------------------------------------------------------- local


@pytest.mark.parametrize("example", ["iris", "cancer"])
@pytest.mark.parametrize("as_frame", [False, True])
def test_local_backend_answers_what_the_estimator_answers(
    example: str, as_frame: bool, iris: ModelBundle, cancer: ModelBundle
) -> None:
    bundle = iris if example == "iris" else cancer
    backend = LocalModelBackend(bundle, inline_max_rows=5)
    assert isinstance(backend, ModelBackend)
    features, _ = load_example_frame(example)
    for rows in (features.iloc[:1], features.iloc[:7], features):  # inline and threaded
        given: Any = rows if as_frame else batch_of(rows)
        out = run(backend.predict(given))
        labels, proba = expected(bundle.model, rows)
        assert out.predictions.tolist() == labels
        assert out.probabilities is not None
        np.testing.assert_array_equal(out.probabilities, proba)
        assert out.confidence is not None
        np.testing.assert_array_equal(out.confidence, proba.max(axis=1))


def test_local_backend_skips_pandas_where_it_answers_the_same(
    iris: ModelBundle, cancer: ModelBundle
) -> None:
    assert LocalModelBackend(iris).input_mode == "array"
    assert LocalModelBackend(cancer).input_mode == "columns"


def test_local_backend_columns_in_any_order(iris: ModelBundle) -> None:
    features, _ = load_example_frame("iris")
    shuffled = features[list(reversed(features.columns))].iloc[:10]
    out = run(LocalModelBackend(iris).predict(batch_of(shuffled)))
    assert out.predictions.tolist() == expected(iris.model, features.iloc[:10])[0]


def test_local_backend_nan_into_a_model_that_rejects_it_is_422(iris: ModelBundle) -> None:
    features, _ = load_example_frame("iris")
    batch = batch_of(features.iloc[:2])
    batch["petal_width"] = np.array([0.2, np.nan])
    with pytest.raises(BackendError) as err:
        run(LocalModelBackend(iris).predict(batch))
    assert (err.value.error_type, err.value.status_code) == ("model", 422)
    assert "NaN" in err.value.message


def test_local_backend_missing_column_is_422(iris: ModelBundle) -> None:
    batch = {"sepal_length": np.array([5.0])}
    with pytest.raises(BackendError) as err:
        run(LocalModelBackend(iris).predict(batch))
    assert err.value.status_code == 422 and "sepal_width" in err.value.message


def test_local_backend_unknown_category_is_scored(cancer: ModelBundle) -> None:
    features, _ = load_example_frame("cancer")
    rows = features.iloc[:3].copy()
    rows["clinic"] = ["mars", None, "north"]
    out = run(LocalModelBackend(cancer).predict(batch_of(rows)))
    assert len(out.predictions) == 3
    assert set(out.predictions.tolist()) <= {"benign", "malignant"}


def test_local_backend_regressor_fitted_on_arrays() -> None:
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 3
    model = Ridge().fit(x, y)
    bundle = build_bundle(model, x, name="r", version="1")
    assert bundle.metadata.feature_names == ["f0", "f1", "f2"]
    out = run(LocalModelBackend(bundle).predict({f"f{i}": x[:5, i] for i in range(3)}))
    assert out.probabilities is None
    assert out.predictions.dtype == np.float64
    np.testing.assert_array_equal(out.predictions, model.predict(x[:5]))


def test_local_backend_integer_classes_become_strings() -> None:
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 2))
    y = (x[:, 0] > 0).astype(int) * 7
    model = DecisionTreeClassifier(random_state=0).fit(x, y)
    bundle = build_bundle(model, x, name="t", version="1", feature_names=["a", "b"])
    assert bundle.metadata.classes == ["0", "7"]
    out = run(LocalModelBackend(bundle).predict({"a": x[:4, 0], "b": x[:4, 1]}))
    assert out.predictions.tolist() == [str(v) for v in model.predict(x[:4]).tolist()]


class PickByName:
    """A transformer that selects columns by name (needs a DataFrame)."""

    def fit(self, x: pd.DataFrame, y: Any = None) -> PickByName:
        self.feature_names_in_ = np.asarray(x.columns, dtype=object)
        self.n_features_in_ = x.shape[1]
        return self

    def transform(self, x: pd.DataFrame) -> np.ndarray:
        return x[["c", "a"]].to_numpy()

    def fit_transform(self, x: pd.DataFrame, y: Any = None) -> np.ndarray:
        return self.fit(x).transform(x)


def test_local_backend_name_based_transformer_still_answers_right() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a", "b", "c"])
    y = np.where(frame["a"] + frame["c"] > 0, "yes", "no")
    model = Pipeline([("pick", PickByName()), ("clf", LogisticRegression())]).fit(frame, y)
    bundle = build_bundle(model, frame, name="p", version="1")
    backend = LocalModelBackend(bundle)
    assert backend.input_mode == "frame"
    out = run(backend.predict(batch_of(frame.iloc[:20])))
    assert out.predictions.tolist() == model.predict(frame.iloc[:20]).tolist()


def _column_transformer(variant: str) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    onehot = OneHotEncoder(handle_unknown="ignore")
    if variant == "sparse":
        return ColumnTransformer(
            [("n", StandardScaler(), ["a"]), ("c", onehot, ["city"])], sparse_threshold=1.0
        )
    if variant == "remainder":
        return ColumnTransformer([("c", onehot, ["city"])], remainder="passthrough")
    if variant == "imputed":
        cat = make_pipeline(SimpleImputer(strategy="most_frequent"), onehot)
        return ColumnTransformer([("n", "passthrough", [0, 1]), ("c", cat, [2])])
    return ColumnTransformer([("c", onehot, ["city"])])  # the numeric columns are dropped


@pytest.mark.parametrize("variant", ["sparse", "remainder", "imputed", "drop"])
def test_local_backend_column_transformer_variants(variant: str) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(4)
    n = 200
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "city": rng.choice(np.array(["x", "y", "z"], dtype=object), n),
        }
    )
    y = np.where(frame["a"] + (frame["city"] == "x") > 0.5, "hi", "lo")
    model = Pipeline([("pre", _column_transformer(variant)), ("clf", LogisticRegression())])
    model.fit(frame, y)
    bundle = build_bundle(model, frame, name="v", version="1")
    backend = LocalModelBackend(bundle)
    rows = frame.iloc[:30].copy()
    rows.loc[rows.index[:3], "city"] = ["unseen", None, "y"]
    out = run(backend.predict(batch_of(rows)))
    assert out.predictions.tolist() == model.predict(rows).tolist()
    np.testing.assert_array_equal(out.probabilities, model.predict_proba(rows))


def test_local_backend_refuses_a_model_whose_classes_differ(iris: ModelBundle) -> None:
    meta = iris.metadata.model_copy(update={"classes": ["a", "b", "c"]})
    bad = ModelBundle(meta, iris.schema, iris.profile, iris.model)
    with pytest.raises(ValueError, match="classes"):
        LocalModelBackend(bad)


def test_local_backend_needs_a_model(iris: ModelBundle) -> None:
    with pytest.raises(ValueError, match="no model file"):
        LocalModelBackend(ModelBundle(iris.metadata, iris.schema, iris.profile, None))


# --------------------------------------------------------------------------- upstream


@pytest.fixture
def upstream(cancer: ModelBundle) -> Iterator[UpstreamServer]:
    server = UpstreamServer(cancer.model, output="labels").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("output", ["labels", "probabilities", "records"])
def test_upstream_backend_answers_like_the_model(
    output: str, upstream: UpstreamServer, cancer: ModelBundle
) -> None:
    upstream.output = output  # type: ignore[assignment]
    features, _ = load_example_frame("cancer")
    rows = features.iloc[:25]

    async def go() -> Any:
        backend = UpstreamModelBackend(upstream.url, cancer.metadata, timeout=10)
        try:
            assert await backend.ready()
            return await backend.predict(batch_of(rows))
        finally:
            await backend.aclose()

    out = run(go())
    labels, proba = expected(cancer.model, rows)
    assert out.predictions.tolist() == labels
    if output == "labels":
        assert out.probabilities is None
    else:
        np.testing.assert_allclose(out.probabilities, proba, rtol=1e-12)


def test_upstream_backend_model_rejecting_rows_is_422(
    upstream: UpstreamServer, cancer: ModelBundle
) -> None:
    features, _ = load_example_frame("cancer")
    batch = batch_of(features.iloc[:2])
    batch["mean_radius"] = np.array([np.nan, 12.0])

    async def go() -> None:
        backend = UpstreamModelBackend(upstream.url, cancer.metadata, timeout=10)
        try:
            await backend.predict(batch)
        finally:
            await backend.aclose()

    with pytest.raises(BackendError) as err:
        run(go())
    assert (err.value.error_type, err.value.status_code) == ("model", 422)
    assert "NaN" in err.value.message


def test_upstream_backend_down_then_slow_then_back(
    upstream: UpstreamServer, cancer: ModelBundle
) -> None:
    features, _ = load_example_frame("cancer")
    batch = batch_of(features.iloc[:3])
    labels = expected(cancer.model, features.iloc[:3])[0]

    async def go() -> None:
        # a long timeout: a refused connection must fail as "upstream", not wait for it
        backend = UpstreamModelBackend(upstream.url, cancer.metadata, timeout=30)
        short = UpstreamModelBackend(upstream.url, cancer.metadata, timeout=0.3)
        try:
            assert (await backend.predict(batch)).predictions.tolist() == labels

            upstream.stop()
            with pytest.raises(BackendError) as down:
                await backend.predict(batch)
            assert (down.value.error_type, down.value.status_code) == ("upstream", 502)
            assert upstream.url in down.value.message
            assert not await backend.ready()

            upstream.start()
            assert (await backend.predict(batch)).predictions.tolist() == labels
            assert await backend.ready()

            upstream.delay = 5.0
            with pytest.raises(BackendError) as slow:
                await short.predict(batch)
            assert (slow.value.error_type, slow.value.status_code) == ("timeout", 504)
            upstream.delay = 0.0
            assert (await short.predict(batch)).predictions.tolist() == labels

            upstream.fail_status = 503
            with pytest.raises(BackendError) as failing:
                await backend.predict(batch)
            assert (failing.value.error_type, failing.value.status_code) == ("upstream", 502)
            assert "503" in failing.value.message
            upstream.fail_status = None
            assert (await backend.predict(batch)).predictions.tolist() == labels
        finally:
            await backend.aclose()
            await short.aclose()

    run(go())


@pytest.mark.parametrize("layout", ["dataframe_split", "dataframe_records", "instances", "inputs"])
def test_upstream_test_server_speaks_every_mlflow_input_layout(
    layout: str, upstream: UpstreamServer, cancer: ModelBundle
) -> None:
    features, _ = load_example_frame("cancer")
    rows = features.iloc[:4]
    records = rows.to_dict(orient="records")
    bodies: dict[str, Any] = {
        "dataframe_split": {
            "dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}
        },
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs": {"inputs": {c: rows[c].tolist() for c in rows.columns}},
    }
    answer = httpx.post(upstream.url + "/invocations", json=bodies[layout], timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": expected(cancer.model, rows)[0]}
    assert httpx.get(upstream.url + "/ping", timeout=10).status_code == 200


def test_upstream_backend_uses_a_given_client(
    upstream: UpstreamServer, cancer: ModelBundle
) -> None:
    features, _ = load_example_frame("cancer")

    async def go() -> None:
        async with httpx.AsyncClient() as client:
            backend = UpstreamModelBackend(upstream.url, cancer.metadata, 10, client)
            await backend.predict(batch_of(features.iloc[:2]))
            await backend.aclose()
            assert not client.is_closed  # the caller's client stays open

    run(go())
    assert upstream.requests == 1


META = ModelMetadata(
    name="m", version="1", task="classification", feature_names=["x"], classes=["a", "b"]
)
REG = ModelMetadata(name="r", version="1", task="regression", feature_names=["x"])


@pytest.mark.parametrize(
    ("answer", "labels", "proba"),
    [
        (["a", "b"], ["a", "b"], None),
        ({"predictions": ["b", "a"]}, ["b", "a"], None),
        ({"predictions": [[0.9, 0.1], [0.2, 0.8]]}, ["a", "b"], [[0.9, 0.1], [0.2, 0.8]]),
        (
            {"predictions": [{"a": 0.3, "b": 0.7}, {"a": 1, "b": 0}]},
            ["b", "a"],
            [[0.3, 0.7], [1, 0]],
        ),
        (
            {"predictions": [{"label": "a", "probabilities": [0.6, 0.4]}] * 2},
            ["a", "a"],
            [[0.6, 0.4], [0.6, 0.4]],
        ),
        ({"predictions": {"prediction": ["a", "b"]}}, ["a", "b"], None),
        ({"predictions": [["a"], ["b"]]}, ["a", "b"], None),
    ],
)
def test_parse_answer_reads_mlflow_shapes(answer: Any, labels: list[str], proba: Any) -> None:
    out = parse_answer(answer, 2, META)
    assert out.predictions.tolist() == labels
    if proba is None:
        assert out.probabilities is None
    else:
        np.testing.assert_allclose(out.probabilities, proba)


def test_parse_answer_matches_numeric_labels_to_classes() -> None:
    meta = META.model_copy(update={"classes": ["0", "1"]})
    assert parse_answer([1, 0.0], 2, meta).predictions.tolist() == ["1", "0"]
    meta = META.model_copy(update={"classes": ["0.0", "1.0"]})
    assert parse_answer([1.0], 1, meta).predictions.tolist() == ["1.0"]


def test_parse_answer_regression() -> None:
    out = parse_answer({"predictions": [1.5, [2], {"prediction": 3}]}, 3, REG)
    assert out.predictions.tolist() == [1.5, 2.0, 3.0] and out.probabilities is None


@pytest.mark.parametrize(
    ("answer", "meta", "match"),
    [
        (["a"], META, "1 predictions for 2 rows"),
        ({"result": 1}, META, "expected"),
        ([[0.1, 0.2, 0.7], [0.1, 0.2, 0.7]], META, "3 values"),
        ([{"x": 1}, {"x": 2}], META, "no prediction"),
        (["high", 2.0], REG, "not a number"),
        ([[0.5, float("nan")], [0.5, 0.5]], META, "not finite"),
    ],
)
def test_parse_answer_rejects_nonsense_as_502(answer: Any, meta: ModelMetadata, match: str) -> None:
    with pytest.raises(BackendError, match=match) as err:
        parse_answer(answer, 2, meta)
    assert err.value.status_code == 502


def test_request_payload_is_dataframe_split_with_nulls() -> None:
    import json

    batch = {"x": np.array([1.5, np.nan]), "c": np.array(["a", None], dtype=object)}
    body = json.loads(request_payload(batch, ["c", "x"]))
    assert body == {"dataframe_split": {"columns": ["c", "x"], "data": [["a", 1.5], [None, None]]}}
    frame = pd.DataFrame({"x": [1.0, 2.0], "c": ["a", None]})
    body = json.loads(request_payload(frame, ["x", "c"]))
    assert body["dataframe_split"]["data"] == [[1.0, "a"], [2.0, None]]
    with pytest.raises(BackendError, match="infinite") as err:
        request_payload({"x": np.array([np.inf])}, ["x"])
    assert err.value.status_code == 422


# --------------------------------------------------------------------------- settings


def test_backend_from_settings(iris: ModelBundle, tmp_path: Path) -> None:
    local_dir = save_model_dir(tmp_path / "local", iris)
    backend = backend_from_settings(Settings(model_dir=local_dir, data_dir=tmp_path))
    assert isinstance(backend, LocalModelBackend)
    assert backend.metadata == iris.metadata

    bare = ModelBundle(iris.metadata, iris.schema, iris.profile, None)
    bare_dir = save_model_dir(tmp_path / "bare", bare)
    upstream_settings = Settings(
        model_dir=bare_dir, upstream_url="http://127.0.0.1:9/", upstream_timeout_seconds=1.5
    )
    up = backend_from_settings(upstream_settings)
    assert isinstance(up, UpstreamModelBackend)
    assert (up.url, up.timeout) == ("http://127.0.0.1:9", 1.5)
    run(up.aclose())

    with pytest.raises(ModelDirError, match=r"model\.joblib"):
        backend_from_settings(Settings(model_dir=bare_dir))


# --------------------------------------------------------------------------- MLflow


@pytest.mark.mlflow
def test_upstream_backend_against_mlflow_models_serve(iris: ModelBundle, tmp_path: Path) -> None:
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    model_path = tmp_path / "mlflow-model"
    with warnings.catch_warnings():  # MLflow's own notes on pickling and type hints
        warnings.simplefilter("ignore")
        mlflow_sklearn.save_model(iris.model, str(model_path), serialization_format="cloudpickle")
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    log = (tmp_path / "mlflow.log").open("wb")
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_path)]
    cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    features, _ = load_example_frame("iris")
    rows = features.iloc[::15]

    def pinged() -> bool:
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "mlflow.log").read_text(errors="replace"))
        try:
            return httpx.get(url + "/ping", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    async def go() -> Any:
        backend = UpstreamModelBackend(url, iris.metadata, timeout=30)
        try:
            assert await backend.ready()
            good = await backend.predict(batch_of(rows))
            bad = batch_of(rows.iloc[:1])
            bad["petal_width"] = np.array([np.nan])
            with pytest.raises(BackendError) as err:
                await backend.predict(bad)
            assert err.value.status_code == 422
            return good
        finally:
            await backend.aclose()

    try:
        wait_until(pinged, timeout=120, interval=0.2)
        out = run(go())
    finally:
        import signal

        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()
    assert out.predictions.tolist() == expected(iris.model, rows)[0]
