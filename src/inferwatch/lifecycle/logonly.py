"""``inferwatch init --no-model``: a model directory for predictions made elsewhere.

The reference data holds the features and a column with the predictions the model made on
them (and, optionally, the target). The directory gets the schema, the reference profile
(inputs and predictions) and the metadata, marked ``log_only``; no model file. Served, it
takes ``POST /log`` and answers ``/predict`` with a 409.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from inferwatch.core.schema import SchemaError
from inferwatch.lifecycle.bring import InitResult
from inferwatch.lifecycle.loaders import read_table
from inferwatch.lifecycle.modeldir import build_bundle, save_model_dir
from inferwatch.lifecycle.options import InitError, InitOptions
from inferwatch.lifecycle.scoring import coerce_kinds


class RecordedPredictions:
    """Stands in for the model while profiling: answers the recorded predictions of the
    reference rows (and nothing else)."""

    def __init__(self, predictions: np.ndarray, classification: bool) -> None:
        self.predictions = predictions
        if classification:
            self.classes_ = np.unique(predictions.astype(str))

    def predict(self, frame: Any) -> np.ndarray:
        if len(frame) != len(self.predictions):
            raise ValueError("a log-only model directory has no model to score new rows")
        return self.predictions


def _task(options: InitOptions, predictions: pd.Series[Any]) -> str:
    if options.task is not None:
        if options.task not in ("classification", "regression"):
            raise InitError(f"task must be classification or regression, got {options.task!r}")
        return options.task
    if pd.api.types.is_float_dtype(predictions):
        values = predictions.to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(values) & (values == np.round(values))):
            return "regression"
    return "classification"


def _default_name(reference: str | Path | pd.DataFrame) -> str:
    return "model" if isinstance(reference, pd.DataFrame) else Path(reference).stem or "model"


def init_log_only(
    reference: str | Path | pd.DataFrame, prediction: str, options: InitOptions
) -> InitResult:
    """Profile ``reference`` with its ``prediction`` column and write a log-only directory."""
    frame = reference if isinstance(reference, pd.DataFrame) else read_table(reference)
    if frame.empty:
        raise InitError("the reference data has no rows")
    if prediction not in frame.columns:
        raise InitError(
            f"prediction column {prediction!r} is not in the reference data", prediction
        )
    predictions = frame[prediction]
    if predictions.isna().any():
        row = int(np.flatnonzero(predictions.isna().to_numpy())[0])
        raise InitError(f"prediction column {prediction!r} is empty in row {row}", prediction)
    skip = {prediction, *options.exclude, *([options.target] if options.target else [])}
    features = [str(c) for c in frame.columns if str(c) not in skip]
    if not features:
        raise InitError("the reference data has no feature columns besides the predictions")
    if options.target is not None and options.target not in frame.columns:
        raise InitError(f"target column {options.target!r} is not in the reference data")
    task = _task(options, predictions)
    values = predictions.to_numpy()
    if task == "classification":
        values = np.array([str(v) for v in values.tolist()], dtype=object)
    model = RecordedPredictions(values, task == "classification")
    data = coerce_kinds(frame, [n for n in options.numeric if n in features])
    columns = [*features, *([options.target] if options.target else [])]
    try:
        bundle = build_bundle(
            model,
            data[columns],
            name=options.name or _default_name(reference),
            version=options.version,
            target=options.target,
            task="classification" if task == "classification" else "regression",
            bins=options.bins,
            feature_names=features,
            categorical=[n for n in options.categorical if n in features],
        )
    except SchemaError as exc:
        raise InitError(f"column {exc.field!r}: {exc.message}", exc.field) from exc
    meta = bundle.metadata.model_copy(
        update={
            "log_only": True,
            "thresholds": {**bundle.metadata.thresholds, **options.psi_thresholds},
        }
    )
    bundle = replace(bundle, metadata=meta, model=None)
    out = options.out or Path(".inferwatch/models") / meta.name
    save_model_dir(out, bundle)
    return InitResult(Path(out), bundle, (), False)


__all__ = ["RecordedPredictions", "init_log_only"]
