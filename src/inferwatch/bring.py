"""Bring your own model: ``inferwatch init MODEL --reference DATA``.

Turns a trained model and its reference (training) table into a model directory that
``inferwatch serve --model-dir DIR`` loads:

- the model comes from a joblib or pickle file (a scikit-learn estimator or Pipeline), an
  MLflow model directory or a ``models:/`` URI (with the ``mlflow`` extra);
- the table is CSV or Parquet;
- the columns the model reads come from the estimator's ``feature_names_in_`` when it has
  one, else from the table (minus the target and the excluded columns), in table order;
- overrides (column kinds, excluded columns, per-feature PSI thresholds, bins) come from
  options or a small YAML/TOML file, options winning.

Every problem the user can fix is an ``InitError`` whose message names the column.
The directory itself is written by :func:`inferwatch.modeldir.build_bundle`.
"""

from __future__ import annotations

import json
import pickle
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from inferwatch.casting import CastError, cast_kinds
from inferwatch.core.profile import OUTPUT_NAME
from inferwatch.core.schema import FeatureSchema, SchemaError
from inferwatch.modeldir import (
    SAFE_NAME,
    ModelBundle,
    build_bundle,
    infer_task,
    model_input,
    save_model_dir,
)

CONFIG_KEYS = frozenset(
    {
        "target",
        "name",
        "version",
        "task",
        "categorical",
        "numeric",
        "exclude",
        "psi_thresholds",
        "bins",
        "out",
        "evaluation",
    }
)


class InitError(ValueError):
    """A model or table that cannot become a model directory; ``column`` names the culprit."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


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


# ---------------------------------------------------------------------- options


@dataclass(frozen=True)
class InitOptions:
    """What ``inferwatch init`` was asked for; see :func:`load_config` for the file form."""

    target: str | None = None
    name: str | None = None
    version: str = "1"
    task: str | None = None
    """``classification`` or ``regression``; inferred from the model when unset."""
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    psi_thresholds: Mapping[str, float] = field(default_factory=dict)
    bins: int = 10
    out: Path | None = None
    evaluation: Path | None = None
    """Held-out table with the target for the baseline; without it, the reference is used."""

    def merged(self, overrides: Mapping[str, Any]) -> InitOptions:
        """These options with the non-empty ``overrides`` on top (thresholds merge per feature)."""
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if value is None or value == () or value == [] or value == {}:
                continue
            if key == "psi_thresholds":
                changes[key] = {**self.psi_thresholds, **value}
            else:
                changes[key] = value
        return replace(self, **changes)


def _names(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return split_names(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InitError(f"config: {key} must be a list of column names")


def split_names(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"a,b" "c"`` style option values to ``("a", "b", "c")``.

    >>> split_names(["id, ts", "day"])
    ('id', 'ts', 'day')
    """
    if text is None:
        return ()
    parts = [text] if isinstance(text, str) else list(text)
    return tuple(n.strip() for p in parts for n in p.split(",") if n.strip())


def parse_thresholds(items: Iterable[str]) -> dict[str, float]:
    """``["alcohol=0.3", "ph=0.25"]`` to ``{"alcohol": 0.3, "ph": 0.25}``.

    >>> parse_thresholds(["alcohol=0.3", "color=0.5"])
    {'alcohol': 0.3, 'color': 0.5}
    """
    out: dict[str, float] = {}
    for item in items:
        feature, sep, value = item.rpartition("=")
        if not sep or not feature.strip():
            raise InitError(f"--psi-threshold {item!r}: expected FEATURE=VALUE")
        out[feature.strip()] = _threshold(feature.strip(), value)
    return out


def _threshold(feature: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InitError(
            f"PSI threshold for {feature!r}: {value!r} is not a number", feature
        ) from None
    if not number > 0:
        raise InitError(f"PSI threshold for {feature!r} must be > 0, got {number}", feature)
    return number


def load_config(path: str | Path) -> dict[str, Any]:
    """Read ``init`` options from YAML (``.yml``/``.yaml``), TOML (``.toml``) or JSON.

    Keys: ``target, name, version, task, categorical, numeric, exclude, bins, out,
    evaluation`` and
    ``psi_thresholds`` (a table of feature to PSI; the key ``prediction`` sets the
    threshold of the model's output). A TOML file may hold them under
    ``[tool.inferwatch]`` or ``[inferwatch]``.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InitError(f"cannot read config {p}: {exc}") from exc
    suffix = p.suffix.lower()
    raw: Any
    try:
        if suffix in (".yml", ".yaml"):
            import yaml

            raw = yaml.safe_load(text) or {}
        elif suffix == ".toml":
            if sys.version_info < (3, 11):
                raise InitError("TOML config needs Python 3.11 or newer; use YAML")
            import tomllib

            raw = tomllib.loads(text)
            raw = raw.get("tool", {}).get("inferwatch", raw.get("inferwatch", raw))
        elif suffix == ".json":
            raw = json.loads(text)
        else:
            raise InitError(f"config {p}: expected .yaml, .yml, .toml or .json")
    except InitError:
        raise
    except Exception as exc:  # yaml/toml/json parse errors have no common base
        raise InitError(f"config {p}: cannot parse: {exc}") from exc
    if not isinstance(raw, dict):
        raise InitError(f"config {p}: expected a mapping of options")
    unknown = sorted(set(raw) - CONFIG_KEYS)
    if unknown:
        raise InitError(f"config {p}: unknown option {unknown[0]!r}; known: {sorted(CONFIG_KEYS)}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("categorical", "numeric", "exclude"):
            out[key] = _names(value, key)
        elif key == "psi_thresholds":
            if not isinstance(value, dict):
                raise InitError(f"config {p}: psi_thresholds must map feature to number")
            out[key] = {str(k): _threshold(str(k), v) for k, v in value.items()}
        elif key == "bins":
            if not isinstance(value, int) or value < 2:
                raise InitError(f"config {p}: bins must be an integer >= 2")
            out[key] = value
        elif key in ("out", "evaluation"):
            out[key] = Path(str(value))
        else:
            out[key] = None if value is None else str(value)
    return out


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


# ---------------------------------------------------------------------- features


def resolve_features(
    frame: pd.DataFrame, loaded: LoadedModel, options: InitOptions
) -> tuple[list[str], bool]:
    """The model's input columns in order, and whether the model takes a DataFrame.

    With declared names the model needs exactly those (a missing one is an error naming
    it); otherwise every column but the target and the excluded ones, which must match the
    model's ``n_features_in_`` when it has one.
    """
    columns = [str(c) for c in frame.columns]
    if options.target is not None and options.target not in columns:
        raise InitError(
            f"target column {options.target!r} is not in the reference data "
            f"(columns: {', '.join(columns)})",
            options.target,
        )
    for name in (*options.exclude, *options.categorical, *options.numeric):
        if name not in columns:
            raise InitError(f"column {name!r} named in the options is not in the data", name)
    for name in options.psi_thresholds:
        if name not in columns and name != OUTPUT_NAME:
            raise InitError(f"PSI threshold for {name!r}: no such column in the data", name)
    declared = loaded.input_names
    if declared is not None:
        missing = [n for n in declared if n not in columns]
        if missing:
            raise InitError(
                f"the model needs column {missing[0]!r}, which the reference data lacks"
                + (f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""),
                missing[0],
            )
        if options.target is not None and options.target in declared:
            raise InitError(
                f"target column {options.target!r} is also a model input", options.target
            )
        excluded = [n for n in options.exclude if n in declared]
        if excluded:
            raise InitError(
                f"column {excluded[0]!r} cannot be excluded: the model reads it", excluded[0]
            )
        return list(declared), True
    skip = {*options.exclude, *([options.target] if options.target else [])}
    features = [c for c in columns if c not in skip]
    expected = getattr(loaded.model, "n_features_in_", None)
    if isinstance(expected, int) and expected != len(features):
        raise InitError(
            f"the model expects {expected} input columns but the reference data has "
            f"{len(features)} after removing the target and excluded ones "
            f"({', '.join(features)}); use --exclude or --target",
        )
    return features, loaded.flavor == "pyfunc"


def coerce_kinds(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str] = ()
) -> pd.DataFrame:
    """Columns forced numeric become numbers (a value that is not one names the column);
    columns forced categorical become text (integer codes ``1, 2`` become ``"1", "2"``), as
    the service will hand them to the model."""
    kinds = {**{n: "numeric" for n in numeric}, **{n: "categorical" for n in categorical}}
    if not kinds:
        return frame
    try:
        return cast_kinds(frame, kinds)
    except CastError as exc:
        raise InitError(str(exc), exc.column) from exc


def numbers_meant_as_text(model: Any, frame: pd.DataFrame, features: Sequence[str]) -> list[str]:
    """The whole-number columns the model scores only as text: a pipeline fitted on string
    categories, given a CSV's integer codes. Empty when casting them does not help."""
    sample = frame[list(features)].head(200)
    candidates = [
        n
        for n in features
        if pd.api.types.is_numeric_dtype(sample[n])
        and not pd.api.types.is_bool_dtype(sample[n])
        and bool(np.all(np.mod(sample[n].dropna().to_numpy(dtype=np.float64), 1) == 0))
    ]

    def scores(as_text_columns: Sequence[str]) -> bool:
        try:
            model.predict(model_input(model, coerce_kinds(sample, (), as_text_columns)))
        except Exception:  # any estimator error means: not this way
            return False
        return True

    if not candidates or not scores(candidates):
        return []
    # a candidate is at fault when leaving it numeric (the others as text) still fails
    return [n for n in candidates if not scores([c for c in candidates if c != n])] or candidates


_QUOTED = re.compile(r"'([^']{1,200})'|\"([^\"]{1,200})\"")


def explain_failure(exc: BaseException, frame: pd.DataFrame, features: Sequence[str]) -> InitError:
    """Turn a scoring exception into an ``InitError`` naming the column when it can be found.

    Looks for a column named in the message, a quoted value that only some columns hold
    (``could not convert string to float: 'abc'``, ``unknown categories ['x']``), or
    missing values the model does not accept.
    """
    message = f"{type(exc).__name__}: {exc}".strip()
    first_line = message.splitlines()[0] if message else type(exc).__name__

    def error(column: str, why: str) -> InitError:
        return InitError(
            f"the model cannot score the reference data: column {column!r} {why} ({first_line})",
            column,
        )

    quoted = [a or b for a, b in _QUOTED.findall(message)]
    for value in quoted:
        if value in features:
            return error(value, "is the problem")
    for value in quoted:
        holders = [n for n in features if _column_holds(frame[n], value)]
        if holders:
            return error(holders[0], f"holds the value {value!r} the model cannot take")
    for name in features:
        if len(name) >= 3 and re.search(rf"(?<![\w/]){re.escape(name)}(?![\w/])", message):
            return error(name, "is the problem")
    if "nan" in message.lower() or "missing" in message.lower():
        with_missing = [n for n in features if frame[n].isna().any()]
        if with_missing:
            return error(with_missing[0], "has missing values the model does not accept")
    return InitError(f"the model cannot score the reference data: {first_line}")


def _column_holds(column: pd.Series, value: str) -> bool:
    if pd.api.types.is_numeric_dtype(column):
        return False
    return bool((column.astype(str) == value).any())


def score(model: Any, frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """Predict ``frame[features]`` the way the service will, turning failures into an
    ``InitError`` that names the column(s) and the fix."""
    try:
        return np.asarray(model.predict(model_input(model, frame[list(features)])))
    except Exception as exc:  # any estimator error becomes a message about the data
        as_text = numbers_meant_as_text(model, frame, features)
        if as_text:
            names = ", ".join(repr(n) for n in as_text)
            raise InitError(
                f"the model cannot score the reference data: column(s) {names} hold numbers "
                "but the model was fitted on text categories; mark them categorical "
                f"(--categorical {','.join(as_text)})",
                as_text[0],
            ) from exc
        raise explain_failure(exc, frame, features) from exc


def check_served_form(model: Any, schema: FeatureSchema, frame: pd.DataFrame) -> None:
    """Score the reference once more in the form the service hands the model (categorical
    columns as text, numeric ones as float64), so a kind the model cannot take is caught
    now rather than on the first request."""
    names = list(schema.names)
    served = pd.DataFrame(schema.columns_from_frame(frame[names]), columns=names)
    try:
        model.predict(model_input(model, served))
    except Exception as exc:  # any estimator error becomes a message about the data
        err = explain_failure(exc, served, names)
        column = err.column or next((f.name for f in schema.categorical), None)
        if column is None:
            why = "the model cannot take the inputs as the service sends them"
        elif schema[column].kind == "categorical":
            why = (
                f"column {column!r} is served as text (categorical), which the model cannot "
                "take; leave it numeric (drop it from --categorical)"
            )
        else:
            why = (
                f"column {column!r} is served as numbers, which the model cannot take; "
                "mark it --categorical"
            )
        raise InitError(f"{why} ({exc})".replace("\n", " "), column) from exc


# ---------------------------------------------------------------------- init


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


@dataclass(frozen=True)
class InitResult:
    """A written model directory and what ``init`` decided on the way."""

    path: Path
    bundle: ModelBundle
    unused: tuple[str, ...]
    """Table columns that are neither model inputs, the target nor excluded."""
    model_saved: bool
    """False for MLflow models of other flavors: score them upstream
    (``INFERWATCH_UPSTREAM_URL``) with this directory describing them."""


def default_name(source: str) -> str:
    """A model name from its file, directory or ``models:/NAME/...`` URI.

    >>> default_name("models:/churn/3"), default_name("/tmp/wine_model.joblib")
    ('churn', 'wine_model')
    """
    if source.startswith(("models:/", "runs:/")):
        parts = [p for p in source.split(":/", 1)[1].split("/") if p]
        name = parts[0] if source.startswith("models:/") and parts else "model"
    else:
        p = Path(source)
        name = p.name if p.is_dir() else p.stem
    # a safe name (it names a directory): other characters become "_", no leading dot
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name).lstrip(".")[:128] or "model"


def build_from(
    loaded: LoadedModel, reference: pd.DataFrame, options: InitOptions
) -> tuple[ModelBundle, tuple[str, ...]]:
    """The bundle for ``loaded`` profiled on ``reference``, with the options applied."""
    features, _ = resolve_features(reference, loaded, options)
    conflict = set(options.categorical) & set(options.numeric)
    if conflict:
        name = sorted(conflict)[0]
        raise InitError(f"column {name!r} cannot be both categorical and numeric", name)
    numeric = [n for n in options.numeric if n in features]
    categorical = [n for n in options.categorical if n in features]
    # cast before scoring, as the service will: integer codes of a --categorical column
    # reach the model as text
    frame = coerce_kinds(reference, numeric, categorical)
    model = loaded.model
    if loaded.flavor == "pyfunc":
        model = PyfuncModel(loaded.model, features)
    try:
        outputs = score(model, frame, features)
    except InitError as err:
        raise _categorical_refused(model, reference, features, numeric, categorical, err) from err
    task = options.task or loaded_task(loaded, outputs)
    if task not in ("classification", "regression"):
        raise InitError(f"task must be classification or regression, got {task!r}")
    if isinstance(model, PyfuncModel) and task == "classification":
        model.classes_ = np.unique(outputs.astype(str))
    if options.target is not None:
        target = frame[options.target]
        if target.isna().any():
            row = int(np.flatnonzero(target.isna().to_numpy())[0])
            raise InitError(
                f"target column {options.target!r} has a missing value in row {row}",
                options.target,
            )
        if task == "regression" and not pd.api.types.is_numeric_dtype(target):
            raise InitError(
                f"target column {options.target!r} must hold numbers for a regressor",
                options.target,
            )
    columns = [*features, *([options.target] if options.target else [])]
    evaluation = None
    if options.evaluation is not None:
        if options.target is None:
            raise InitError("--evaluation needs --target: the baseline compares with it")
        evaluation = coerce_kinds(read_table(options.evaluation), numeric, categorical)
        absent = [c for c in columns if c not in evaluation.columns]
        if absent:
            raise InitError(
                f"column {absent[0]!r} is not in the evaluation data {options.evaluation}",
                absent[0],
            )
        evaluation = evaluation[columns]
        score(model, evaluation, features)
    try:
        bundle = build_bundle(
            model,
            frame[columns],
            name=options.name or default_name(loaded.source),
            version=options.version,
            target=options.target,
            task="classification" if task == "classification" else "regression",
            bins=options.bins,
            feature_names=features,
            categorical=categorical,
            evaluation=evaluation,
        )
    except SchemaError as exc:
        raise InitError(f"column {exc.field!r}: {exc.message}", exc.field) from exc
    check_served_form(model, bundle.schema, frame)
    if options.psi_thresholds:
        not_inputs = [n for n in options.psi_thresholds if n not in features and n != OUTPUT_NAME]
        if not_inputs:
            raise InitError(
                f"PSI threshold for {not_inputs[0]!r}: not a model input", not_inputs[0]
            )
        thresholds = {**bundle.metadata.thresholds, **options.psi_thresholds}
        bundle = replace(
            bundle, metadata=bundle.metadata.model_copy(update={"thresholds": thresholds})
        )
    skip = {*features, *options.exclude, *([options.target] if options.target else [])}
    unused = tuple(str(c) for c in reference.columns if str(c) not in skip)
    return bundle, unused


def _categorical_refused(
    model: Any,
    reference: pd.DataFrame,
    features: Sequence[str],
    numeric: Sequence[str],
    categorical: Sequence[str],
    err: InitError,
) -> InitError:
    """``err``, or when the model scores the columns as they were (not cast to text), the
    ``--categorical`` column it cannot take as text and the fix."""
    if not categorical:
        return err
    try:
        score(model, coerce_kinds(reference, numeric).head(200), features)
    except InitError:
        return err
    column = err.column if err.column in categorical else categorical[0]
    return InitError(
        f"column {column!r} is served as text (categorical), which the model cannot take; "
        f"leave it numeric (drop it from --categorical) ({err})",
        column,
    )


def init_model_dir(
    model: str | Path, reference: str | Path | pd.DataFrame, options: InitOptions
) -> InitResult:
    """``inferwatch init``: load, profile, and write the model directory."""
    for what, value in (("--name", options.name), ("--version", options.version)):
        if value is not None and not re.fullmatch(SAFE_NAME, value):
            raise InitError(
                f"{what} {value!r}: use letters, digits and _ . + - (no '/', no leading dot)"
            )
    loaded = load_model(model)
    frame = reference if isinstance(reference, pd.DataFrame) else read_table(reference)
    if frame.empty:
        raise InitError("the reference data has no rows")
    bundle, unused = build_from(loaded, frame, options)
    out = options.out or Path(".inferwatch/models") / bundle.metadata.name
    saved = loaded.flavor == "sklearn"
    save_model_dir(out, bundle if saved else replace(bundle, model=None))
    return InitResult(Path(out), bundle, unused, saved)


def describe(result: InitResult) -> list[str]:
    """What ``inferwatch init`` prints: the directory, the columns and the baseline."""
    meta = result.bundle.metadata
    schema = result.bundle.schema
    lines = [
        f"model directory  {result.path}",
        f"model            {meta.name} version {meta.version} ({meta.task})",
        f"reference rows   {result.bundle.profile.rows}",
    ]
    for spec in schema.features:
        if spec.kind == "numeric" and spec.min is not None and spec.max is not None:
            shape = f"numeric [{spec.min:.4g}, {spec.max:.4g}]"
        elif spec.kind == "numeric":
            shape = "numeric (no finite values)"
        else:
            shown = ", ".join(spec.categories[:6]) + (", ..." if len(spec.categories) > 6 else "")
            shape = f"categorical {{{shown}}}"
        threshold = meta.thresholds.get(spec.name)
        suffix = f"  psi>{threshold:g}" if threshold is not None else ""
        lines.append(f"  {spec.name:<24} {shape}{suffix}")
    if meta.classes:
        lines.append(f"classes          {', '.join(meta.classes)}")
    if meta.reference_performance:
        perf = ", ".join(f"{k} {v:.4g}" for k, v in meta.reference_performance.items())
        lines.append(f"baseline         {perf}")
    else:
        lines.append("baseline         none (no --target)")
    if result.unused:
        lines.append(f"not model inputs {', '.join(result.unused)} (left out)")
    if not result.model_saved:
        lines.append(
            "model file       not written (MLflow flavor without a local loader): serve the "
            "model with `mlflow models serve` and set INFERWATCH_UPSTREAM_URL"
        )
    lines.append(f"serve it with    inferwatch serve --model-dir {result.path}")
    return lines


__all__ = [
    "CONFIG_KEYS",
    "InitError",
    "InitOptions",
    "InitResult",
    "LoadedModel",
    "PyfuncModel",
    "build_from",
    "check_served_form",
    "coerce_kinds",
    "default_name",
    "describe",
    "explain_failure",
    "init_model_dir",
    "load_config",
    "load_model",
    "loaded_task",
    "parse_thresholds",
    "read_table",
    "resolve_features",
    "score",
    "split_names",
]
