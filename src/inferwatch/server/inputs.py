"""Request bodies to batches: JSON parsing and the accepted input layouts.

``/predict`` takes one object of features, ``{"instances": [...]}`` or a bare list.
``/invocations`` takes the MLflow scoring layouts: ``dataframe_split``,
``dataframe_records``, ``instances`` and ``inputs`` (rows or a mapping of columns).
Anything unusable raises ``Rejected`` with the status, the field and the quality check to
count, so the route answers a 4xx that names the field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from inferwatch.core import jsonbody
from inferwatch.core.schema import Batch, FeatureSchema, SchemaError


class Rejected(Exception):
    """A request refused before the model saw it."""

    def __init__(self, status: int, field: str, detail: str, check: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.field = field
        self.detail = detail
        self.check = check
        """Quality check to count against ``field`` (``None``: not a feature issue)."""

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "field": self.field}


def loads(body: bytes) -> Any:
    """Parse JSON; the non-standard ``NaN``/``Infinity`` literals many clients send are
    accepted. Nesting deeper than ``MAX_DEPTH`` and text that is not valid Unicode (which
    the store could not encode) are refused with the field that holds them."""
    try:
        return jsonbody.parse(body)
    except jsonbody.JsonError as exc:
        status = 400 if exc.unreadable else 422
        raise Rejected(status, exc.field, exc.detail) from None


def _rows_to_batch(schema: FeatureSchema, rows: Sequence[Any], field: str) -> Batch:
    """Rows given as lists (no names): values in the schema's column order."""
    try:
        return schema.columns_from_split(list(schema.names), rows)
    except SchemaError as exc:
        raise _schema_rejected(exc, field) from None


def _schema_rejected(exc: SchemaError, container: str) -> Rejected:
    field = exc.field
    if field.startswith(("records[", "data[")):
        field = container + field[field.index("[") :]
    elif field in ("records", "data"):
        field = container
    check = exc.check if exc.field == field else None
    return Rejected(
        422, field, str(exc) if field == exc.field else f"{field}: {exc.message}", check
    )


def _check_size(n: int, max_rows: int, field: str) -> None:
    if n == 0:
        raise Rejected(422, field, f"{field}: expected at least one row")
    if n > max_rows:
        raise Rejected(413, field, f"{field}: {n} rows is over the limit of {max_rows} per request")


def instances_batch(
    schema: FeatureSchema, instances: Any, max_rows: int, field: str = "instances"
) -> Batch:
    """Rows as objects (``[{...}]``), as lists (``[[...]]``) or a mapping of columns."""
    if isinstance(instances, dict):
        columns = list(instances)
        values = list(instances.values())
        if not all(isinstance(v, list) for v in values):
            # a single object of features
            instances = [instances]
        else:
            lengths = {len(v) for v in values}
            if len(lengths) > 1:
                raise Rejected(422, field, f"{field}: columns of different lengths")
            n = lengths.pop() if lengths else 0
            _check_size(n, max_rows, field)
            try:
                return schema.columns_from_split(
                    columns, [list(r) for r in zip(*values, strict=True)]
                )
            except SchemaError as exc:
                raise _schema_rejected(exc, field) from None
    if not isinstance(instances, list):
        raise Rejected(422, field, f"{field}: expected a list of rows")
    _check_size(len(instances), max_rows, field)
    if isinstance(instances[0], list):
        return _rows_to_batch(schema, instances, field)
    try:
        return schema.columns_from_records(instances)
    except SchemaError as exc:
        raise _schema_rejected(exc, field) from None


def predict_batch(schema: FeatureSchema, data: Any, max_rows: int) -> Batch:
    """The ``/predict`` layouts: one object, ``{"instances": [...]}`` or a list of rows."""
    if isinstance(data, dict):
        if "instances" in data:
            return instances_batch(schema, data["instances"], max_rows)
        try:
            return schema.columns_from_records([data])
        except SchemaError as exc:
            raise _schema_rejected(exc, "body") from None
    if isinstance(data, list):
        return instances_batch(schema, data, max_rows, field="body")
    raise Rejected(422, "body", 'expected an object of features or {"instances": [...]}')


MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def invocations_batch(schema: FeatureSchema, data: Any, max_rows: int) -> Batch:
    """The MLflow scoring protocol layouts."""
    if not isinstance(data, dict):
        raise Rejected(422, "body", f"expected an object with one of {', '.join(MLFLOW_KEYS)}")
    present = [k for k in MLFLOW_KEYS if k in data]
    if len(present) != 1:
        raise Rejected(
            422,
            "body",
            f"expected exactly one of {', '.join(MLFLOW_KEYS)}, got {present or list(data)[:5]}",
        )
    key = present[0]
    value = data[key]
    if key == "dataframe_split":
        if not isinstance(value, dict):
            raise Rejected(422, key, f"{key}: expected an object with columns and data")
        rows = value.get("data")
        if not isinstance(rows, list):
            raise Rejected(422, f"{key}.data", f"{key}.data: expected a list of rows")
        _check_size(len(rows), max_rows, f"{key}.data")
        columns = value.get("columns")
        if columns is None:
            return _rows_to_batch(schema, rows, f"{key}.data")
        try:
            return schema.columns_from_split(columns, rows)
        except SchemaError as exc:
            raise _schema_rejected(exc, f"{key}.data") from None
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise Rejected(422, key, f"{key}: expected a list of objects")
        _check_size(len(value), max_rows, key)
        try:
            return schema.columns_from_records(value)
        except SchemaError as exc:
            raise _schema_rejected(exc, key) from None
    return instances_batch(schema, value, max_rows, field=key)


_FEW_ROWS = 8


def reject_missing(schema: FeatureSchema, batch: Batch) -> None:
    """Refuse rows with missing or non-finite values (for models that cannot take NaN)."""
    numeric = [batch[spec.name] for spec in schema.numeric]
    if not numeric:
        clean = True
    elif len(numeric[0]) <= _FEW_ROWS:  # a few floats: plain Python is cheaper than numpy
        clean = all(math.isfinite(v) for col in numeric for v in col.tolist())
    else:
        clean = bool(np.isfinite(np.concatenate(numeric)).all())
    if clean and not schema.categorical:
        return
    for spec in schema.features:
        col = batch[spec.name]
        if spec.kind == "numeric":
            if clean:
                continue
            finite = np.isfinite(col)
            if finite.all():
                continue
            i = int(np.argmin(finite))
            check = "missing" if np.isnan(col[i]) else "non_finite"
            what = "missing (null or NaN)" if check == "missing" else "not finite"
            raise Rejected(422, spec.name, f"{spec.name}: value in row {i} is {what}", check)
        else:
            for i, v in enumerate(col.tolist()):
                if v is None:
                    raise Rejected(
                        422, spec.name, f"{spec.name}: value in row {i} is missing", "missing"
                    )


__all__ = [
    "MLFLOW_KEYS",
    "Rejected",
    "instances_batch",
    "invocations_batch",
    "loads",
    "predict_batch",
    "reject_missing",
]
