"""The model directory: everything ``inferwatch serve`` needs to serve and watch one model.

A model directory holds four files, and a fifth when the target was known:

- ``model.joblib``: the fitted estimator (optional when an upstream server scores the rows);
- ``schema.json``: the ``FeatureSchema`` of the inputs;
- ``profile.json``: the ``ReferenceProfile`` of the reference data and the model's outputs on it;
- ``metadata.json``: ``ModelMetadata`` (name, version, task, feature order, classes, ...);
- ``evaluation.parquet``: labelled reference rows the model was evaluated on (a retrained
  candidate must hold its own on them before it is promoted).

``build_bundle`` makes all of it from a fitted estimator and its reference data;
``save_model_dir`` writes it and ``load_model_dir`` reads it back.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inferwatch import __version__
from inferwatch.core.profile import ReferenceProfile
from inferwatch.core.schema import FeatureSchema, SchemaError

MODEL_FILE = "model.joblib"
SCHEMA_FILE = "schema.json"
PROFILE_FILE = "profile.json"
METADATA_FILE = "metadata.json"
EVALUATION_FILE = "evaluation.parquet"
EVALUATION_ROWS = 5000
"""Most labelled reference rows kept beside a model for retraining checks."""

Task = Literal["classification", "regression"]


class ModelDirError(Exception):
    """A model directory that cannot be used; ``path`` names the missing or bad file."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


SAFE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$"
"""Model names and versions: they name directories (so no ``/`` and no leading dot) and
label values. Letters, digits, ``_ . + -``, at most 128 characters."""


def contained(root: Path, *parts: str) -> Path:
    """``root / parts`` resolved, refused (``ValueError``) unless it stays inside ``root``."""
    base = root.resolve()
    path = base.joinpath(*parts).resolve()
    if path != base and base not in path.parents:
        raise ValueError(f"{'/'.join(parts)!r} would leave {root}")
    return path


class ModelMetadata(BaseModel):
    """What the service needs to know about a model besides its schema and profile."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(min_length=1, pattern=SAFE_NAME)
    version: str = Field(min_length=1, pattern=SAFE_NAME)
    task: Task
    feature_names: list[str] = Field(min_length=1)
    """Input columns in the order the model expects them."""
    classes: list[str] | None = None
    """String forms of the estimator's ``classes_``, in its order (classification only)."""
    target: str | None = None
    created_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    reference_performance: dict[str, float] = Field(default_factory=dict)
    """``accuracy``/``f1`` (macro) or ``mae``/``rmse`` on the evaluation data."""
    thresholds: dict[str, float] = Field(default_factory=dict)
    """Feature name to the PSI threshold its drift decision uses."""
    inferwatch_version: str = __version__
    log_only: bool = False
    """No model file by design (``inferwatch init --no-model``): predictions are made
    elsewhere and logged to ``POST /log``."""


@dataclass(frozen=True, eq=False)
class ModelBundle:
    """A loaded model directory. ``model`` is ``None`` when the directory has no model file."""

    metadata: ModelMetadata
    schema: FeatureSchema
    profile: ReferenceProfile
    model: Any | None = None
    evaluation: pd.DataFrame | None = None
    """Labelled reference rows (features and the target column) the model was evaluated on:
    a retrained candidate must hold its own on them too (``evaluation.parquet``)."""


# --------------------------------------------------------------------------- files


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _write_atomic(path: Path, text: str) -> None:
    tmp = _tmp_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_model_dir(path: str | Path, bundle: ModelBundle) -> Path:
    """Write ``bundle`` into the directory ``path`` (created if needed); returns the path.

    Each file is replaced atomically, so a server reading the directory never sees half a file.
    """
    import joblib

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    if bundle.model is not None:
        tmp = _tmp_path(out / MODEL_FILE)
        try:
            joblib.dump(bundle.model, tmp)
            os.replace(tmp, out / MODEL_FILE)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    _write_atomic(out / SCHEMA_FILE, json.dumps(bundle.schema.to_dict(), indent=2) + "\n")
    _write_atomic(out / PROFILE_FILE, json.dumps(bundle.profile.to_dict()) + "\n")
    if bundle.evaluation is not None:
        tmp = _tmp_path(out / EVALUATION_FILE)
        try:
            bundle.evaluation.to_parquet(tmp, index=False)
            os.replace(tmp, out / EVALUATION_FILE)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    _write_atomic(out / METADATA_FILE, bundle.metadata.model_dump_json(indent=2) + "\n")
    return out


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise ModelDirError(path, "missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelDirError(path, f"not valid JSON ({exc})") from exc


def load_metadata(path: str | Path) -> ModelMetadata:
    """Read only ``metadata.json`` of the model directory ``path``."""
    file = Path(path) / METADATA_FILE
    try:
        return ModelMetadata.model_validate(_read_json(file))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "metadata"
        raise ModelDirError(file, f"{where}: {first['msg']}") from exc


def load_model_dir(path: str | Path, *, load_model: bool = True) -> ModelBundle:
    """Read the model directory ``path``.

    The model file is optional (a directory can describe a model scored by an upstream server);
    ``load_model=False`` skips it even when present. Raises ``ModelDirError`` naming the file
    that is missing or unusable.
    """
    root = Path(path)
    if not root.is_dir():
        raise ModelDirError(root, "not a model directory (run `inferwatch train` or `init`)")
    metadata = load_metadata(root)

    schema_file = root / SCHEMA_FILE
    try:
        schema = FeatureSchema.from_dict(_read_json(schema_file))
    except (SchemaError, KeyError, TypeError, ValueError) as exc:
        raise ModelDirError(schema_file, f"bad schema ({exc})") from exc

    profile_file = root / PROFILE_FILE
    try:
        profile = ReferenceProfile.from_dict(_read_json(profile_file))
    except (SchemaError, KeyError, TypeError, ValueError) as exc:
        raise ModelDirError(profile_file, f"bad profile ({exc})") from exc

    missing = [n for n in metadata.feature_names if n not in schema.names]
    if missing:
        raise ModelDirError(schema_file, f"no spec for model feature(s) {missing}")
    if profile.task != metadata.task:
        raise ModelDirError(
            profile_file, f"task {profile.task!r} differs from metadata's {metadata.task!r}"
        )

    model: Any | None = None
    model_file = root / MODEL_FILE
    if load_model and model_file.exists():
        import joblib

        try:
            model = joblib.load(model_file)
        except Exception as exc:  # joblib raises whatever unpickling raises
            raise ModelDirError(model_file, f"cannot load the model ({exc})") from exc
        if not hasattr(model, "predict"):
            raise ModelDirError(model_file, f"{type(model).__name__} has no predict()")
    evaluation = None
    if (root / EVALUATION_FILE).is_file():
        try:
            evaluation = pd.read_parquet(root / EVALUATION_FILE)
        except Exception as exc:  # pyarrow raises its own errors for a broken file
            raise ModelDirError(root / EVALUATION_FILE, f"unreadable ({exc})") from exc
    return ModelBundle(metadata, schema, profile, model, evaluation)


# --------------------------------------------------------------------------- building


def infer_task(model: Any) -> Task:
    """The task of an estimator: ``classification`` when it says it is a classifier or has
    ``classes_``, ``regression`` when it says it is a regressor, else ``classification`` if
    it has ``predict_proba`` (class probabilities) and ``regression`` otherwise."""
    from sklearn.base import is_classifier, is_regressor

    def says(check: Callable[[Any], bool]) -> bool:
        try:
            return bool(check(model))
        except (AttributeError, TypeError):  # not a scikit-learn estimator: no tags to read
            return False

    if says(is_classifier) or hasattr(model, "classes_"):
        return "classification"
    if says(is_regressor):
        return "regression"
    return "classification" if hasattr(model, "predict_proba") else "regression"


def model_feature_names(model: Any, columns: Sequence[str] | None = None) -> list[str] | None:
    """Column names the estimator was fitted with (``feature_names_in_``), if it knows them."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return list(columns) if columns is not None else None
    return [str(n) for n in names]


def model_input(model: Any, frame: pd.DataFrame) -> Any:
    """``frame`` as the estimator wants it: the DataFrame itself if it was fitted with column
    names, else the bare array (estimators fitted on numpy arrays)."""
    if getattr(model, "feature_names_in_", None) is not None:
        return frame
    return frame.to_numpy()


def class_names(model: Any) -> list[str]:
    return [str(c) for c in np.asarray(model.classes_).tolist()]


def reference_performance(
    task: Task, actual: Sequence[Any] | np.ndarray, predicted: Sequence[Any] | np.ndarray
) -> dict[str, float]:
    """Accuracy and macro F1 (classification) or MAE and RMSE (regression).

    >>> reference_performance("regression", [1.0, 2.0], [1.0, 4.0])
    {'mae': 1.0, 'rmse': 1.4142135623730951}
    """
    if task == "classification":
        from sklearn.metrics import accuracy_score, f1_score

        y = np.array([str(v) for v in np.asarray(actual).tolist()], dtype=object)
        p = np.array([str(v) for v in np.asarray(predicted).tolist()], dtype=object)
        return {
            "accuracy": float(accuracy_score(y, p)),
            "f1": float(f1_score(y, p, average="macro", zero_division=0)),
        }
    err = np.asarray(predicted, dtype=np.float64) - np.asarray(actual, dtype=np.float64)
    return {"mae": float(np.mean(np.abs(err))), "rmse": math.sqrt(float(np.mean(err**2)))}


def _as_frame(data: Any, feature_names: Sequence[str] | None) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise ValueError(f"reference data must be 2-D, got {arr.ndim}-D")
    names = list(feature_names) if feature_names else [f"f{i}" for i in range(arr.shape[1])]
    if len(names) != arr.shape[1]:
        raise ValueError(f"{arr.shape[1]} columns but {len(names)} feature names")
    return pd.DataFrame(arr, columns=names)


def _split_target(
    frame: pd.DataFrame, target: str | None
) -> tuple[pd.DataFrame, pd.Series[Any] | None]:
    if target is None:
        return frame, None
    if target not in frame.columns:
        raise ValueError(f"target column {target!r} not in the reference data")
    return frame.drop(columns=[target]), frame[target]


def build_bundle(
    model: Any,
    reference: Any,
    *,
    name: str,
    version: str,
    target: str | None = None,
    task: Task | None = None,
    bins: int = 10,
    feature_names: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    evaluation: pd.DataFrame | None = None,
    psi_threshold: float = 0.2,
) -> ModelBundle:
    """Describe a fitted estimator: infer the schema, score the reference data with the model
    and profile both, and measure the reference performance when the target is known.

    ``reference`` is a DataFrame (optionally holding the ``target`` column) or a 2-D array
    whose columns are ``feature_names`` (default ``f0..fN``; only for estimators fitted on
    arrays). ``evaluation`` (a DataFrame with the target column) is held-out data for the
    reference performance; without it the performance is measured on ``reference``.
    ``categorical`` forces columns to be categorical.
    """
    if not hasattr(model, "predict"):
        raise TypeError(f"{type(model).__name__} has no predict(); pass a fitted estimator")
    frame, y = _split_target(_as_frame(reference, feature_names), target)

    names = model_feature_names(model)
    if names is None:
        names = list(feature_names) if feature_names else [str(c) for c in frame.columns]
        if not all(n in frame.columns for n in names):
            if len(names) != frame.shape[1]:
                raise ValueError(f"{frame.shape[1]} columns but {len(names)} feature names")
            frame = frame.set_axis(names, axis=1)
        n_in = getattr(model, "n_features_in_", None)
        if n_in is not None and n_in != len(names):
            raise ValueError(f"the model expects {n_in} features, the data has {len(names)}")
    else:
        absent = [n for n in names if n not in frame.columns]
        if absent:
            raise ValueError(f"reference data lacks the model's feature(s) {absent}")
    features = frame[names]

    resolved: Task = task or infer_task(model)
    classes = class_names(model) if resolved == "classification" else None
    outputs = np.asarray(model.predict(model_input(model, features)))
    if resolved == "classification":
        outputs = np.array([str(v) for v in outputs.tolist()], dtype=object)

    schema = FeatureSchema.infer(features, categorical=categorical)
    profile = ReferenceProfile.build(schema, features, outputs, resolved, classes, bins=bins)

    performance: dict[str, float] = {}
    kept: pd.DataFrame | None = None
    if evaluation is not None:
        if target is None:
            raise ValueError("evaluation data needs the target column name")
        eval_x, eval_y = _split_target(evaluation, target)
        eval_pred = np.asarray(model.predict(model_input(model, eval_x[names])))
        assert eval_y is not None
        performance = reference_performance(resolved, eval_y.to_numpy(), eval_pred)
        kept = _evaluation_rows(eval_x[names], eval_y, target)
    elif y is not None:
        performance = reference_performance(resolved, y.to_numpy(), outputs)
        kept = _evaluation_rows(features, y, str(target))

    metadata = ModelMetadata(
        name=name,
        version=version,
        task=resolved,
        feature_names=names,
        classes=classes,
        target=target,
        reference_performance=performance,
        thresholds=dict.fromkeys(names, psi_threshold),
    )
    return ModelBundle(metadata, schema, profile, model, kept)


def _evaluation_rows(features: pd.DataFrame, y: pd.Series[Any], target: str) -> pd.DataFrame:
    """At most ``EVALUATION_ROWS`` labelled rows, kept beside the model."""
    frame = features.assign(**{target: y.to_numpy()}).reset_index(drop=True)
    if len(frame) > EVALUATION_ROWS:
        frame = frame.sample(EVALUATION_ROWS, random_state=0).reset_index(drop=True)
    return frame


__all__ = [
    "EVALUATION_FILE",
    "METADATA_FILE",
    "MODEL_FILE",
    "PROFILE_FILE",
    "SAFE_NAME",
    "SCHEMA_FILE",
    "ModelBundle",
    "ModelDirError",
    "ModelMetadata",
    "build_bundle",
    "class_names",
    "contained",
    "infer_task",
    "load_metadata",
    "load_model_dir",
    "model_feature_names",
    "model_input",
    "reference_performance",
    "save_model_dir",
]
