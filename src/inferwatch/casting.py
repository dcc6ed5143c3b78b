"""Casting a table's columns to the served model's feature schema before sending them.

Lake files and replayed tables often carry a numeric feature as text (a CSV column read as
strings, a Parquet column written as ``string``) or a category code as a number. The service
would count every such value as ``wrong_type``; casting once, column by column, on the
client side sends what the schema expects. A value that does not cast is left as it is, so
the service still names the field and counts it.

``cast_table`` works on a ``pyarrow.Table`` or ``RecordBatch`` (the lake reader's record
batches); ``cast_frame`` on a pandas DataFrame (``replay``) through the same rules.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from inferwatch.core.schema import FeatureSchema

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


def cast_frame(frame: Any, schema: FeatureSchema) -> Any:
    """A pandas DataFrame cast by the same rules (returns a new DataFrame)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return cast_table(table, schema).to_pandas()


__all__ = ["cast_frame", "cast_table"]
