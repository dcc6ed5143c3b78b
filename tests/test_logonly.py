"""``inferwatch init --no-model``: a model directory from reference data with a prediction
column; served, it takes ``/log`` and refuses ``/predict`` with a 409."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from inferwatch.cli import app
from inferwatch.examples import load_example_frame
from inferwatch.modeldir import load_model_dir


def reference_with_predictions(path: Path) -> Path:
    frame, target = load_example_frame("iris")
    frame = frame.assign(species=target.to_numpy())
    predicted = target.to_numpy().copy()
    predicted[::10] = "versicolor"  # the model elsewhere is sometimes wrong
    frame["predicted"] = predicted
    frame.to_csv(path, index=False)
    return path


def test_init_no_model_then_serve_in_log_mode(tmp_path: Path, service: Callable[..., Any]) -> None:
    ref = reference_with_predictions(tmp_path / "flowers.csv")
    out = tmp_path / "flowers"
    args = ["init", "--no-model", "--reference", str(ref), "--prediction", "predicted"]
    result = CliRunner().invoke(app, [*args, "--target", "species", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "POST /log" in result.output

    bundle = load_model_dir(out)
    assert bundle.model is None and not (out / "model.joblib").exists()
    meta = bundle.metadata
    assert meta.log_only and meta.name == "flowers" and meta.task == "classification"
    assert meta.feature_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert meta.classes == ["setosa", "versicolor", "virginica"]
    frame, target = load_example_frame("iris")
    truth = target.to_numpy()
    predicted = truth.copy()
    predicted[::10] = "versicolor"
    expected = float(np.mean(predicted == truth))
    assert expected < 1.0
    assert meta.reference_performance["accuracy"] == pytest.approx(expected)

    svc = service(model_dir=out)
    row = {k: float(v) for k, v in frame.iloc[0].items()}
    refused = svc.client.post("/predict", json=row)
    assert refused.status_code == 409
    assert "no model" in refused.json()["detail"] and "POST /log" in refused.json()["detail"]
    logged = svc.client.post("/log", json={"rows": [row], "predictions": ["setosa"], "ids": ["a"]})
    assert logged.status_code == 200, logged.text
    fed = svc.client.post("/feedback", json={"id": "a", "label": "setosa"})
    assert fed.json()["counts"] == {"matched": 1}


def test_init_no_model_needs_the_prediction_column(tmp_path: Path) -> None:
    ref = reference_with_predictions(tmp_path / "flowers.csv")
    runner = CliRunner()
    missing = runner.invoke(app, ["init", "--no-model", "--reference", str(ref)])
    assert missing.exit_code == 2 and "--prediction" in missing.output
    absent = runner.invoke(
        app, ["init", "--no-model", "--reference", str(ref), "--prediction", "nope"]
    )
    assert absent.exit_code == 2 and "'nope'" in absent.output
    written = json.dumps(sorted(p.name for p in tmp_path.iterdir()))
    assert written == '["flowers.csv"]'
