"""Casting table columns to the kind a model or a schema expects.

A CSV holds no types: integer-coded categories (``plan`` = 1, 2, 3) come back as numbers, so
a pipeline fitted on text cannot score them and the service counts them as ``wrong_type``.
Parquet keeps what was written. Both paths go through these functions, so a CSV and a Parquet
file of the same data give the same monitoring result. ``cast_kinds`` works on pandas frames
(``init``, ``replay``); ``cast_table`` on the Arrow record batches the lake reader streams, by
the same rules, leaving a value that does not cast for the service to name and count.

>>> import pandas as pd
>>> as_text(pd.Series([1.0, None, 3.0])).tolist()
['1', None, '3']
>>> frame = pd.DataFrame({"a": [1, 2], "b": ["1.5", "2"]})
>>> cast_kinds(frame, {"a": "categorical", "b": "numeric"}).to_dict("list")
{'a': ['1', '2'], 'b': [1.5, 2.0]}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from inferwatch.core.schema import FeatureSchema


class CastError(ValueError):
    """A value cannot take the kind its column is declared with; ``column`` names it."""

    def __init__(self, message: str, column: str) -> None:
        super().__init__(message)
        self.column = column


def as_text(column: pd.Series) -> pd.Series:
    """Values as ``str`` with missing ones as ``None``; whole floats lose their ``.0`` (a
    CSV column of integer codes with a gap is read as float)."""
    values = column
    if pd.api.types.is_float_dtype(values):
        finite = values.dropna()
        if len(finite) and bool(np.all(np.mod(finite.to_numpy(), 1) == 0)):
            values = values.astype("Int64")
    if pd.api.types.is_bool_dtype(values):
        values = values.astype(object)
    missing = values.isna().to_numpy()
    out = values.astype(str).astype(object)
    out[missing] = None
    return out


def as_numbers(column: pd.Series, name: str) -> pd.Series:
    """Values as float64; a value that is not a number raises ``CastError`` naming the row."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.astype(np.float64)
    converted = pd.to_numeric(column, errors="coerce")
    bad = converted.isna() & column.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise CastError(
            f"column {name!r} is numeric but row {row} holds {column.iloc[row]!r}", name
        )
    return converted.astype(np.float64)


def cast_kinds(frame: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    """A copy of ``frame`` with each column named in ``kinds`` cast to its kind
    (``categorical`` to text, ``numeric`` to numbers); other columns are left as they are."""
    out = frame.copy()
    for name, kind in kinds.items():
        if name not in out.columns:
            continue
        if kind == "categorical":
            out[name] = as_text(out[name])
        elif kind == "numeric":
            out[name] = as_numbers(out[name], name)
    return out


Columnar = Any  # a pyarrow Table or RecordBatch (pyarrow has no type hints)


def _cast_column(column: Any, kind: str) -> Any:
    target = pa.float64() if kind == "numeric" else pa.string()
    if column.type == target:
        return column
    if kind == "numeric" and (pa.types.is_boolean(column.type) or not _castable(column.type)):
        return column
    try:
        return pc.cast(column, target, safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return column  # left for the service to name and count


def _castable(type_: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(type_)
        or pa.types.is_floating(type_)
        or pa.types.is_decimal(type_)
        or pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
        or pa.types.is_dictionary(type_)
    )


def cast_table(table: Columnar, schema: FeatureSchema) -> Columnar:
    """``table`` with each schema column cast to float64 (numeric) or string (categorical).

    >>> from inferwatch.core.schema import FeatureSpec
    >>> schema = FeatureSchema((FeatureSpec("x", "numeric"), FeatureSpec("c", "categorical")))
    >>> t = pa.table({"x": ["1.5", "oops"], "c": [1, 2], "other": [True, False]})
    >>> cast_table(t, schema).to_pylist()
    [{'x': '1.5', 'c': '1', 'other': True}, {'x': 'oops', 'c': '2', 'other': False}]
    >>> cast_table(pa.table({"x": ["1.5", "2"], "c": ["a", None]}), schema).to_pylist()
    [{'x': 1.5, 'c': 'a'}, {'x': 2.0, 'c': None}]
    """
    arrays = list(table.columns)
    names = list(table.schema.names)
    for i, name in enumerate(names):
        if name in schema.names:
            arrays[i] = _cast_column(arrays[i], schema[name].kind)
    if isinstance(table, pa.RecordBatch):
        return pa.RecordBatch.from_arrays(arrays, names=names)
    return pa.Table.from_arrays(arrays, names=names)


__all__ = ["CastError", "as_numbers", "as_text", "cast_kinds", "cast_table"]
