"""What ``inferwatch init`` reads: the reference table (CSV or Parquet) and the model (a
joblib or pickle file, an MLflow model directory or a ``models:/`` URI).

Each problem the user can fix is an :class:`~inferwatch.lifecycle.options.InitError`.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from inferwatch.lifecycle.modeldir import infer_task
from inferwatch.lifecycle.options import InitError

# ---------------------------------------------------------------------- tables


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (``.csv``, ``.csv.gz``, ``.tsv``) or Parquet (``.parquet``, ``.pq``) file."""
    p = Path(path)
    if not p.exists():
        raise InitError(f"data file {p} does not exist")
    name = p.name.lower()
    try:
        if name.endswith((".parquet", ".pq")) or p.is_dir():
            return pd.read_parquet(p)
        if name.endswith((".tsv", ".tsv.gz")):
            return pd.read_csv(p, sep="\t")
        if name.endswith((".csv", ".csv.gz", ".txt")):
            return pd.read_csv(p)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InitError(f"cannot read {p}: {exc}") from exc
    raise InitError(f"data file {p}: expected .csv, .tsv or .parquet")


# ---------------------------------------------------------------------- models


@dataclass
class LoadedModel:
    """A model ready to score a table, and where it came from."""

    model: Any
    source: str
    flavor: str
    """``sklearn`` (joblib/pickle or MLflow's sklearn flavor) or ``pyfunc`` (other MLflow)."""
    input_names: tuple[str, ...] | None = None
    """Column names the model declares (``feature_names_in_`` or an MLflow signature)."""


def _declared_names(model: Any) -> tuple[str, ...] | None:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return None
    return tuple(str(n) for n in names)


def _is_mlflow_source(source: str) -> bool:
    if source.startswith(("models:/", "runs:/")):
        return True
    p = Path(source)
    return p.is_dir() and (p / "MLmodel").is_file()


def load_model(source: str | Path) -> LoadedModel:
    """Load a joblib/pickle file, an MLflow model directory or a ``models:/`` URI."""
    text = str(source)
    if _is_mlflow_source(text):
        return _load_mlflow(text)
    p = Path(text)
    if not p.exists():
        raise InitError(f"model {p} does not exist")
    if p.is_dir():
        raise InitError(
            f"model {p} is a directory without an MLmodel file; give a joblib/pickle file "
            "or an MLflow model directory"
        )
    try:
        if p.suffix.lower() in (".pkl", ".pickle"):
            with p.open("rb") as fh:
                model = pickle.load(fh)  # the user's own model file, trusted like joblib
        else:
            import joblib

            model = joblib.load(p)
    except Exception as exc:  # unpickling can raise anything the pickled code raises
        raise InitError(f"cannot load model {p}: {type(exc).__name__}: {exc}") from exc
    if not callable(getattr(model, "predict", None)):
        raise InitError(f"model {p} holds a {type(model).__name__}, which has no predict()")
    return LoadedModel(model, text, "sklearn", _declared_names(model))


def _load_mlflow(source: str) -> LoadedModel:
    try:
        import mlflow.pyfunc
    except ImportError:
        raise InitError(
            f"{source} is an MLflow model; install the extra: pip install 'inferwatch[mlflow]'"
        ) from None
    try:
        info = mlflow.models.get_model_info(source)
        flavors = info.flavors
        if "sklearn" in flavors:
            import mlflow.sklearn

            model = mlflow.sklearn.load_model(source)
            names = _declared_names(model) or _signature_names(info.signature)
            return LoadedModel(model, source, "sklearn", names)
        pyfunc = mlflow.pyfunc.load_model(source)
    except InitError:
        raise
    except Exception as exc:  # MLflow raises its own exception tree and OSErrors
        raise InitError(f"cannot load MLflow model {source}: {exc}") from exc
    return LoadedModel(pyfunc, source, "pyfunc", _signature_names(info.signature))


def _signature_names(signature: Any) -> tuple[str, ...] | None:
    if signature is None or signature.inputs is None:
        return None
    try:
        names = signature.inputs.input_names()
    except Exception:  # tensor-based signatures have no column names
        return None
    return tuple(str(n) for n in names) if names and all(names) else None


def loaded_task(loaded: LoadedModel, outputs: np.ndarray | None = None) -> str:
    """The task of a loaded model: an estimator's as ``modeldir.infer_task`` decides; for
    MLflow pyfunc models, from the outputs (numbers: regression)."""
    if loaded.flavor == "sklearn":
        return infer_task(loaded.model)
    if outputs is not None:
        arr = np.asarray(outputs)
        if arr.dtype.kind in "fc":
            return "regression"
    return "classification"


class PyfuncModel:
    """An MLflow pyfunc model with the estimator surface ``build_bundle`` reads: it scores
    a DataFrame with named columns and knows its classes once it has seen its outputs."""

    def __init__(self, pyfunc: Any, feature_names: Sequence[str]) -> None:
        self._pyfunc = pyfunc
        self.feature_names_in_ = np.asarray(list(feature_names), dtype=object)
        self.classes_: np.ndarray | None = None

    def predict(self, frame: Any) -> np.ndarray:
        data = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
        out = self._pyfunc.predict(data)
        if isinstance(out, pd.DataFrame):
            out = out.iloc[:, 0]
        return np.asarray(out).reshape(-1)


__all__ = ["LoadedModel", "PyfuncModel", "load_model", "loaded_task", "read_table"]
