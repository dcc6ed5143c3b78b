"""Bring your own model, end to end: ``init`` a model directory, serve it on 127.0.0.1,
``replay`` a table whose second half is shifted, with labels, and read what the service saw.

Each case checks what a user would look at: drift on the shifted columns and on no other,
and the labelled accuracy or MAE/RMSE equal to scikit-learn's on the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, mean_absolute_error, mean_squared_error
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from tests.support.waiting import wait_until

from inferwatch.lifecycle.bring import init_model_dir
from inferwatch.lifecycle.loaders import read_table
from inferwatch.lifecycle.options import InitOptions
from inferwatch.replay import replay

N = 300  # reference rows, and rows per half of the replayed table

Service = Callable[..., Any]


def _serve_and_replay(
    service: Service,
    tmp_path: Path,
    model: Any,
    reference: pd.DataFrame,
    live: pd.DataFrame,
    *,
    target: str,
    options: InitOptions,
) -> tuple[dict[str, Any], str]:
    """init from files, serve, replay ``live`` (CSV, in timestamp order) and return the
    settled ``/api/snapshot`` and the ``/metrics`` text."""
    joblib.dump(model, tmp_path / "model.joblib")
    reference.to_csv(tmp_path / "reference.csv", index=False)
    out = tmp_path / "model-dir"
    init_model_dir(
        tmp_path / "model.joblib", tmp_path / "reference.csv", options.merged({"out": out})
    )

    running = service(model_dir=out, min_window_rows=100, min_labels=20)
    # Timestamps one minute apart, shuffled in the file: replay must restore the order.
    table = live.assign(ts=pd.date_range("2024-03-01", periods=len(live), freq="1min"))
    table.sample(frac=1.0, random_state=0).to_csv(tmp_path / "live.csv", index=False)
    summary = replay(
        read_table(tmp_path / "live.csv"),
        url=running.url,
        target=target,
        timestamp_column="ts",
        speed=60.0 * 600,  # 600 minutes of history in about a second
        batch_size=25,
        label_delay=0.05,
        drop=[c for c in options.exclude if c in live.columns],
    )
    assert summary.error_messages == []
    assert (summary.rows_sent, summary.errors) == (len(live), 0)
    assert summary.labels_matched == len(live)

    def settled() -> dict[str, Any] | None:
        snap: dict[str, Any] = running.client.get("/api/snapshot").json()
        perf = snap["performance"]
        done = snap["window_rows"] == len(live) and perf["labels"] == len(live)
        return snap if done else None

    snap = wait_until(settled, timeout=30)
    return snap, running.client.get("/metrics").text


def _drifted(snap: dict[str, Any]) -> set[str]:
    return {f["name"] for f in snap["features"] if f["drift_detected"]}


def _halves(
    make: Callable[[int, int], pd.DataFrame], shift: Callable[[pd.DataFrame], None]
) -> pd.DataFrame:
    healthy = make(N, 11)
    shifted = make(N, 12)
    shift(shifted)
    return pd.concat([healthy, shifted], ignore_index=True)


# --------------------------------------------------------------------------- classification


def _customers(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n) + 1000 * seed,
            "tenure": rng.uniform(0, 60, n),
            "monthly": rng.normal(70, 15, n),
            "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]),
            "region": rng.choice(["north", "south", "west"], n),
        }
    )
    logit = -0.06 * frame.tenure + 0.05 * (frame.monthly - 70) + 1.2 * (frame.plan == "basic")
    frame["churned"] = np.where(logit + rng.normal(0, 0.7, n) > 0, "yes", "no")
    return frame


def test_pipeline_with_string_categoricals(service: Service, tmp_path: Path) -> None:
    reference = _customers(N, 1)
    features = ["tenure", "monthly", "plan", "region"]
    model = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), ["tenure", "monthly"]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
            ]
        ),
        LogisticRegression(max_iter=500),
    ).fit(reference[features], reference.churned)

    def shift(frame: pd.DataFrame) -> None:
        frame["monthly"] += 45.0  # a price rise
        frame["plan"] = np.where(np.arange(len(frame)) % 5 == 0, "plus", "pro")

    live = _halves(_customers, shift)
    snap, metrics = _serve_and_replay(
        service,
        tmp_path,
        model,
        reference,
        live,
        target="churned",
        options=InitOptions(target="churned", exclude=("customer_id",), name="churn"),
    )
    assert _drifted(snap) == {"monthly", "plan"}
    expected = accuracy_score(live.churned, model.predict(live[features]))
    assert snap["performance"]["accuracy"] == pytest.approx(expected)
    assert 'inferwatch_model_reference_performance{metric="accuracy",model="churn"}' in metrics


# --------------------------------------------------------------------------- regression


def _houses(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "rooms": rng.integers(1, 7, n).astype(float),
            "area": rng.uniform(30, 160, n),
            "age": rng.uniform(0, 80, n),
        }
    )
    frame["price"] = 25 * frame.rooms + 2.5 * frame.area - 0.8 * frame.age + rng.normal(0, 20, n)
    return frame


def test_regressor_error_and_output_drift(service: Service, tmp_path: Path) -> None:
    reference = _houses(N, 2)
    features = ["rooms", "area", "age"]
    model = GradientBoostingRegressor(n_estimators=40, max_depth=2, random_state=0).fit(
        reference[features], reference.price
    )

    def shift(frame: pd.DataFrame) -> None:
        frame["area"] = frame["area"] * 1.8 + 40  # bigger houses than the model has seen
        frame["price"] = 25 * frame.rooms + 2.5 * frame.area - 0.8 * frame.age

    live = _halves(_houses, shift)
    snap, metrics = _serve_and_replay(
        service,
        tmp_path,
        model,
        reference,
        live,
        target="price",
        options=InitOptions(target="price", name="houses"),
    )
    assert snap["task"] == "regression"
    assert _drifted(snap) == {"area"}
    predicted = model.predict(live[features])
    perf = snap["performance"]
    assert perf["mae"] == pytest.approx(mean_absolute_error(live.price, predicted))
    assert perf["rmse"] == pytest.approx(np.sqrt(mean_squared_error(live.price, predicted)))
    assert perf["accuracy"] is None
    # The predicted values moved with the input: the output distribution drifted too.
    assert snap["prediction"]["scores"]["psi"] > 0.2
    assert 'inferwatch_model_mean_absolute_error{model="houses"}' in metrics
    assert 'inferwatch_model_reference_performance{metric="mae",model="houses"}' in metrics


# --------------------------------------------------------------------------- numpy model


def _signals(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    frame = pd.DataFrame(x, columns=["s1", "s2", "s3"])
    frame["label"] = (x[:, 0] + 0.5 * x[:, 1] - x[:, 2] + rng.normal(0, 0.3, n) > 0).astype(int)
    return frame


def test_plain_estimator_fitted_on_an_array(service: Service, tmp_path: Path) -> None:
    reference = _signals(N, 3)
    columns: Sequence[str] = ["s1", "s2", "s3"]
    model = LogisticRegression().fit(reference[list(columns)].to_numpy(), reference.label)

    def shift(frame: pd.DataFrame) -> None:
        frame["s2"] += 3.0

    live = _halves(_signals, shift)
    snap, _ = _serve_and_replay(
        service,
        tmp_path,
        model,
        reference,
        live,
        target="label",
        options=InitOptions(target="label", name="signals"),
    )
    assert _drifted(snap) == {"s2"}
    expected = accuracy_score(live.label, model.predict(live[list(columns)].to_numpy()))
    assert snap["performance"]["accuracy"] == pytest.approx(expected)


def test_replay_of_csv_and_parquet_gives_the_same_monitoring_result(
    service: Service, tmp_path: Path
) -> None:
    """Integer-coded categories: a CSV reads them back as numbers, Parquet keeps the text.
    Replay casts by the served model's schema, so neither counts a wrong type and both give
    the same bin counts."""
    rng = np.random.default_rng(5)
    n = 400
    frame = pd.DataFrame(
        {
            "tenure": rng.uniform(0, 60, n).round(2),
            "plan": rng.choice(["1", "2", "3"], n),
        }
    )
    frame["churned"] = np.where(frame.plan == "1", "yes", "no")
    model = make_pipeline(
        ColumnTransformer([("num", "passthrough", ["tenure"]), ("cat", OneHotEncoder(), ["plan"])]),
        LogisticRegression(max_iter=500),
    ).fit(frame[["tenure", "plan"]], frame.churned)
    joblib.dump(model, tmp_path / "model.joblib")
    frame.to_csv(tmp_path / "data.csv", index=False)
    frame.to_parquet(tmp_path / "data.parquet")
    out = tmp_path / "model-dir"
    options = InitOptions(target="churned", categorical=("plan",), out=out)
    init_model_dir(tmp_path / "model.joblib", tmp_path / "data.csv", options)

    results = []
    for name in ("data.csv", "data.parquet"):
        running = service(model_dir=out, min_window_rows=100, min_labels=20)
        summary = replay(read_table(tmp_path / name), url=running.url, target="churned")
        assert (summary.rows_sent, summary.errors) == (n, 0), summary.error_messages

        def settled(client: Any = running.client) -> dict[str, Any] | None:
            snap: dict[str, Any] = client.get("/api/snapshot").json()
            return snap if snap["window_rows"] == n else None

        snap = wait_until(settled, timeout=30)
        results.append(snap)
    csv, parquet = results
    assert csv["totals"]["quality_issues"] == [] or all(
        q["count"] == 0 for q in csv["totals"]["quality_issues"]
    ), csv["totals"]["quality_issues"]
    assert csv["totals"]["quality_issues"] == parquet["totals"]["quality_issues"]
    assert csv["totals"]["bin_observations"] == parquet["totals"]["bin_observations"]
    assert csv["totals"]["predictions"] == parquet["totals"]["predictions"]
