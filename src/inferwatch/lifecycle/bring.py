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
This module is the builder; its parts live beside it: the options and config file
(:mod:`~inferwatch.lifecycle.options`), reading the model and the table
(:mod:`~inferwatch.lifecycle.loaders`) and scoring the table as the service will
(:mod:`~inferwatch.lifecycle.scoring`). The directory itself is written by
:func:`inferwatch.lifecycle.modeldir.build_bundle`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from inferwatch.core.profile import OUTPUT_NAME
from inferwatch.core.schema import SchemaError
from inferwatch.lifecycle.loaders import (
    LoadedModel,
    PyfuncModel,
    load_model,
    loaded_task,
    read_table,
)
from inferwatch.lifecycle.modeldir import SAFE_NAME, ModelBundle, build_bundle, save_model_dir
from inferwatch.lifecycle.options import InitError, InitOptions
from inferwatch.lifecycle.scoring import check_served_form, coerce_kinds, score

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


# ---------------------------------------------------------------------- init


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
        _check_target(frame[options.target], options.target, task)
    columns = [*features, *([options.target] if options.target else [])]
    evaluation = _evaluation_frame(model, options, columns, features, numeric, categorical)
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
    bundle = _with_thresholds(bundle, options, features)
    skip = {*features, *options.exclude, *([options.target] if options.target else [])}
    unused = tuple(str(c) for c in reference.columns if str(c) not in skip)
    return bundle, unused


def _check_target(target: pd.Series, name: str, task: str) -> None:
    """Refuse a target column with a missing value, or without numbers for a regressor."""
    if target.isna().any():
        row = int(np.flatnonzero(target.isna().to_numpy())[0])
        raise InitError(f"target column {name!r} has a missing value in row {row}", name)
    if task == "regression" and not pd.api.types.is_numeric_dtype(target):
        raise InitError(f"target column {name!r} must hold numbers for a regressor", name)


def _evaluation_frame(
    model: Any,
    options: InitOptions,
    columns: Sequence[str],
    features: Sequence[str],
    numeric: Sequence[str],
    categorical: Sequence[str],
) -> pd.DataFrame | None:
    """The held-out table of ``--evaluation`` (``columns`` only, cast like the reference and
    scored once to surface its problems now), or ``None`` without one."""
    if options.evaluation is None:
        return None
    if options.target is None:
        raise InitError("--evaluation needs --target: the baseline compares with it")
    evaluation = coerce_kinds(read_table(options.evaluation), numeric, categorical)
    absent = [c for c in columns if c not in evaluation.columns]
    if absent:
        raise InitError(
            f"column {absent[0]!r} is not in the evaluation data {options.evaluation}",
            absent[0],
        )
    evaluation = evaluation[list(columns)]
    score(model, evaluation, features)
    return evaluation


def _with_thresholds(
    bundle: ModelBundle, options: InitOptions, features: Sequence[str]
) -> ModelBundle:
    """``bundle`` with the PSI thresholds of the options over the computed ones."""
    if not options.psi_thresholds:
        return bundle
    not_inputs = [n for n in options.psi_thresholds if n not in features and n != OUTPUT_NAME]
    if not_inputs:
        raise InitError(f"PSI threshold for {not_inputs[0]!r}: not a model input", not_inputs[0])
    thresholds = {**bundle.metadata.thresholds, **options.psi_thresholds}
    return replace(bundle, metadata=bundle.metadata.model_copy(update={"thresholds": thresholds}))


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
    "InitResult",
    "build_from",
    "default_name",
    "describe",
    "init_model_dir",
    "resolve_features",
]
