"""The reference table scored the way the service will score it, with every failure turned
into an :class:`~inferwatch.lifecycle.options.InitError` that names the column and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from inferwatch.casting import CastError, cast_kinds
from inferwatch.core.schema import FeatureSchema
from inferwatch.lifecycle.modeldir import model_input
from inferwatch.lifecycle.options import InitError


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


__all__ = [
    "check_served_form",
    "coerce_kinds",
    "explain_failure",
    "numbers_meant_as_text",
    "score",
]
