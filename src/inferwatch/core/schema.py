"""The feature schema: what each input column is, what values it allows, and the quality checks.

A *batch* is ``Mapping[str, numpy.ndarray]``: one 1-D array per schema column, all of the same
length. Numeric columns are float64 (NaN = missing); categorical columns are object arrays of
``str`` or ``None``.

Conversion rules for JSON input (``columns_from_records`` / ``columns_from_values``):

- numeric column: ``int``/``float`` are taken as they are; ``None`` is missing (NaN); a string
  that parses as a number (``"5.1"``, ``"nan"``) is converted and counted as ``wrong_type``;
  any other string, a ``bool``, a list or an object raises ``SchemaError(check="wrong_type")``;
  an integer too large for a float raises ``SchemaError(check="non_finite")``.
- categorical column: ``str`` is taken as it is; ``None`` is missing; a number or a ``bool`` is
  converted with ``str()`` and counted as ``wrong_type``; a list, an object or text that is
  not valid Unicode (a lone surrogate, which no store can encode) raises
  ``SchemaError(check="wrong_type")``.
- a schema column absent from a record or from the ``columns`` list raises
  ``SchemaError(check="missing")`` unless the spec says ``required=False`` (then it is missing).
- columns the schema does not know are ignored.

Allowed numeric range: the reference minimum and maximum, each widened by ``range_margin``
(default 5%) of the reference range, so a healthy sample rarely lands just outside what the
training data happened to contain.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from inferwatch.core.batch import (
    Batch,
    SchemaError,
    _batch,
    _categorical_column,
    _numeric_column,
    _numeric_records,
)
from inferwatch.core.categories import (
    arrow_strings,
    as_str_objects,
    encode_categories,
    string_values,
)
from inferwatch.core.quality import QualityKernel, QualityTable
from inferwatch.core.snapshot import FeatureKind

SCHEMA_FORMAT_VERSION = 1

FloatArray = npt.NDArray[np.float64]
ObjArray = npt.NDArray[np.object_]
BoolArray = npt.NDArray[np.bool_]
IntpArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class FeatureSpec:
    """One input column: numeric with an allowed range, or categorical with known categories."""

    name: str
    kind: FeatureKind
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] = ()
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "required": self.required}
        if self.kind == "numeric":
            out["min"] = self.min
            out["max"] = self.max
        else:
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureSpec:
        kind = d["kind"]
        if kind not in ("numeric", "categorical"):
            raise SchemaError(str(d.get("name", "?")), f"unknown kind {kind!r}")
        return cls(
            name=str(d["name"]),
            kind=kind,
            min=None if d.get("min") is None else float(d["min"]),
            max=None if d.get("max") is None else float(d["max"]),
            categories=tuple(str(c) for c in d.get("categories", ())),
            required=bool(d.get("required", True)),
        )


@dataclass(frozen=True, eq=False)
class QualityCounts:
    """Quality issues of one batch.

    ``counts`` maps every ``(feature, check)`` (all schema features x ``QUALITY_CHECKS``) to a
    count; ``row_mask`` marks the rows with at least one issue.
    """

    rows: int
    counts: Mapping[tuple[str, str], int]
    row_mask: BoolArray
    table: npt.NDArray[np.int64] | None = None
    """The same counts as a features x ``QUALITY_CHECKS`` array (schema order)."""

    @property
    def rows_with_issues(self) -> int:
        return int(self.row_mask.sum())

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def nonzero(self) -> dict[tuple[str, str], int]:
        return {k: v for k, v in self.counts.items() if v}


_ABSENT = object()


@dataclass(frozen=True)
class FeatureSchema:
    """The input columns of a model, in order.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "color": ["red", "blue", "red"]})
    >>> schema = FeatureSchema.infer(df)
    >>> [(f.name, f.kind) for f in schema.features]
    [('x', 'numeric'), ('color', 'categorical')]
    >>> batch = schema.columns_from_records([{"x": 9.0, "color": "green"}])
    >>> schema.check(batch).nonzero()
    {('x', 'out_of_range'): 1, ('color', 'unknown_category'): 1}
    >>> FeatureSchema.from_dict(schema.to_dict()) == schema
    True
    """

    features: tuple[FeatureSpec, ...]
    range_margin: float = 0.05

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise SchemaError("features", "duplicate feature names")

    # ------------------------------------------------------------------ access
    # computed once: the schema is frozen, and every request reads them
    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @cached_property
    def numeric(self) -> tuple[FeatureSpec, ...]:
        return tuple(f for f in self.features if f.kind == "numeric")

    @cached_property
    def categorical(self) -> tuple[FeatureSpec, ...]:
        return tuple(f for f in self.features if f.kind == "categorical")

    def __getitem__(self, name: str) -> FeatureSpec:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    # ------------------------------------------------------------------ inference
    @classmethod
    def infer(
        cls,
        data: Any,
        names: Sequence[str] | None = None,
        categorical: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        range_margin: float = 0.05,
        max_categories: int = 1000,
        ranges: bool = True,
    ) -> FeatureSchema:
        """Infer a schema from a pandas DataFrame, a mapping of columns, or a 2-D numpy array
        with ``names``. Columns of bool, object, string or category dtype are categorical, as
        is every column named in ``categorical``; columns in ``exclude`` are left out.

        With ``ranges=False`` numeric features get no value range, and the columns that a lazy
        mapping declares numeric up front (``numeric_names``, e.g. from a Parquet file's
        schema) are not even read: what the batch report needs."""
        columns = _as_columns(data, names)
        forced = set(categorical or ())
        skip = set(exclude or ())
        declared: frozenset[str] = (
            frozenset() if ranges else getattr(columns, "numeric_names", frozenset())
        )
        specs: list[FeatureSpec] = []
        for name in columns:
            if name in skip:
                continue
            if name in declared and name not in forced:
                specs.append(FeatureSpec(name, "numeric"))
                continue
            col = columns[name]
            strings = arrow_strings(col)
            if strings is not None:  # a pandas string column: distinct values without copies
                cats = sorted(string_values(strings))
                if len(cats) > max_categories:
                    raise SchemaError(name, f"{len(cats)} categories (max {max_categories})")
                specs.append(FeatureSpec(name, "categorical", categories=tuple(cats)))
                continue
            arr = np.asarray(col)
            is_cat = name in forced or arr.dtype.kind not in "iuf"
            if is_cat:
                import pandas as pd  # hash-based distinct values of big columns

                vals = as_str_objects(arr)
                cats = sorted(str(v) for v in pd.unique(vals[vals != None]))  # noqa: E711  (elementwise)
                if len(cats) > max_categories:
                    raise SchemaError(name, f"{len(cats)} categories (max {max_categories})")
                specs.append(FeatureSpec(name, "categorical", categories=tuple(cats)))
            else:
                x = arr.astype(np.float64)
                x = x[np.isfinite(x)]
                if x.size == 0 or not ranges:
                    specs.append(FeatureSpec(name, "numeric"))
                    continue
                lo, hi = float(x.min()), float(x.max())
                pad = range_margin * (hi - lo)
                specs.append(FeatureSpec(name, "numeric", min=lo - pad, max=hi + pad))
        return cls(tuple(specs), range_margin=range_margin)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": SCHEMA_FORMAT_VERSION,
            "range_margin": self.range_margin,
            "features": [f.to_dict() for f in self.features],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureSchema:
        version = d.get("format_version", SCHEMA_FORMAT_VERSION)
        if version != SCHEMA_FORMAT_VERSION:
            raise SchemaError("format_version", f"unsupported schema format {version!r}")
        return cls(
            tuple(FeatureSpec.from_dict(f) for f in d["features"]),
            range_margin=float(d.get("range_margin", 0.05)),
        )

    # ------------------------------------------------------------------ batches
    @cached_property
    def _numeric_getter(self) -> Callable[[Any], tuple[Any, ...]] | None:
        """A record's values in feature order, when there are several features and all are
        numeric (the fast path of ``columns_from_records``)."""
        if len(self.features) < 2 or any(f.kind != "numeric" for f in self.features):
            return None
        return operator.itemgetter(*self.names)

    def columns_from_records(self, records: Sequence[Any]) -> Batch:
        """Build a batch from ``[{"feature": value, ...}, ...]``."""
        if not isinstance(records, (list, tuple)):
            raise SchemaError("records", "expected a list of objects")
        getter = self._numeric_getter
        if getter is not None and records:
            batch = _numeric_records(self.names, getter, records)
            if batch is not None:
                return batch
        for i, r in enumerate(records):
            if not isinstance(r, dict):
                raise SchemaError(f"records[{i}]", "expected an object")
        cols: dict[str, np.ndarray] = {}
        coerced: dict[str, BoolArray] = {}
        flagged: list[str] = []
        for spec in self.features:
            name = spec.name
            values = [r.get(name, _ABSENT) for r in records]
            if any(v is _ABSENT for v in values):
                if spec.required:
                    i = next(i for i, v in enumerate(values) if v is _ABSENT)
                    raise SchemaError(name, f"missing required column (record {i})", "missing")
                values = [None if v is _ABSENT else v for v in values]
            cols[name], coerced[name], any_coerced = self._column(spec, values)
            if any_coerced:
                flagged.append(name)
        return _batch(cols, coerced, flagged)

    def columns_from_values(self, values: Mapping[str, Sequence[Any]], n: int) -> Batch:
        """Build a batch of ``n`` rows from plain values by column name (each a sequence of
        ``n`` JSON values); what the wire layouts of ``inferwatch.server.inputs`` decode to."""
        cols: dict[str, np.ndarray] = {}
        coerced: dict[str, BoolArray] = {}
        flagged: list[str] = []
        for spec in self.features:
            column = values.get(spec.name)
            if column is None:
                if spec.required:
                    raise SchemaError(spec.name, "missing required column", "missing")
                column = [None] * n
            cols[spec.name], coerced[spec.name], any_coerced = self._column(spec, list(column))
            if any_coerced:
                flagged.append(spec.name)
        return _batch(cols, coerced, flagged)

    def columns_from_frame(self, data: Any) -> dict[str, np.ndarray]:
        """Build a batch from a pandas DataFrame or a mapping of array-likes (no coercion
        counting: numeric columns must be numeric)."""
        columns = _as_columns(data, None)
        out: dict[str, np.ndarray] = {}
        for spec in self.features:
            if spec.name not in columns:
                if spec.required:
                    raise SchemaError(spec.name, "missing required column", "missing")
                n = len(next(iter(columns.values()))) if columns else 0
                out[spec.name] = (
                    np.full(n, np.nan) if spec.kind == "numeric" else np.full(n, None, object)
                )
                continue
            arr = np.asarray(columns[spec.name])
            if spec.kind == "numeric":
                if arr.dtype.kind not in "iuf":
                    raise SchemaError(spec.name, f"expected numbers, got dtype {arr.dtype}")
                out[spec.name] = arr.astype(np.float64, copy=False)
            else:
                out[spec.name] = as_str_objects(arr)
        return out

    def _column(self, spec: FeatureSpec, values: list[Any]) -> tuple[np.ndarray, BoolArray, bool]:
        if spec.kind == "numeric":
            return _numeric_column(spec.name, values)
        return _categorical_column(spec.name, values)

    # ------------------------------------------------------------------ quality
    @cached_property
    def quality_kernel(self) -> QualityKernel:
        """The quality checks of this schema (shared with the monitor)."""
        return QualityKernel.of(self.features)

    def encode(self, batch: Mapping[str, np.ndarray]) -> tuple[FloatArray, list[IntpArray]]:
        """The numeric columns as one rows x numeric-features float64 matrix, and each
        categorical column's category codes (``encode_categories``). Absent columns are
        all missing."""
        n = _batch_len(batch)
        kernel = self.quality_kernel
        x = np.empty((n, kernel.numeric.size), dtype=np.float64, order="F")  # contiguous columns
        for col, i in enumerate(kernel.numeric.tolist()):
            values = batch.get(self.features[i].name)
            x[:, col] = np.nan if values is None else values
        codes = []
        for i in kernel.categorical.tolist():
            spec = self.features[i]
            values = batch.get(spec.name)
            if values is None:
                codes.append(np.full(n, -1, dtype=np.intp))
            else:
                codes.append(encode_categories(np.asarray(values, dtype=object), spec.categories))
        return x, codes

    def quality(
        self, x: FloatArray, codes: Sequence[IntpArray], batch: Mapping[str, np.ndarray]
    ) -> QualityCounts:
        """Quality counts from ``encode``'s output (``batch`` supplies the coerced masks)."""
        kernel = self.quality_kernel
        n = x.shape[0]
        table = kernel.table()
        mask = np.zeros(n, dtype=bool)
        if kernel.numeric.size:
            mask |= ~kernel.numeric_issues(table, x).all(axis=1)
        if codes:
            sizes = [len(self.features[i].categories) for i in kernel.categorical.tolist()]
            missing = np.array([c < 0 for c in codes])
            unknown = np.array([c == k for c, k in zip(codes, sizes, strict=True)])
            mask |= kernel.categorical_issues(table, missing, unknown)
        if isinstance(batch, Batch) and batch.coerced_names:
            coerced = {name: batch.coerced[name] for name in batch.coerced_names}
            mask |= kernel.coerced_issues(table, coerced, n)
        return QualityCounts(rows=n, counts=kernel.view(table), row_mask=mask, table=table)

    def quality_dict(self, table: npt.NDArray[np.int64]) -> dict[tuple[str, str], int]:
        """``(feature, check)`` to count from a features x ``Check`` table."""
        return self.quality_kernel.as_dict(table)

    def quality_view(self, table: npt.NDArray[np.int64]) -> Mapping[tuple[str, str], int]:
        """The same mapping as ``quality_dict``, built only when first read."""
        return self.quality_kernel.view(table)

    def check(self, batch: Mapping[str, np.ndarray]) -> QualityCounts:
        """Count quality issues per ``(feature, check)`` and mark the rows that have any."""
        x, codes = self.encode(batch)
        return self.quality(x, codes, batch)


def _batch_len(batch: Mapping[str, np.ndarray]) -> int:
    lengths = {len(v) for v in batch.values()}
    if len(lengths) > 1:
        raise SchemaError("batch", f"columns of different lengths {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def _as_columns(data: Any, names: Sequence[str] | None) -> Mapping[str, Any]:
    """Columns of a DataFrame, a mapping, or a 2-D array with ``names`` (default x0, x1, ...).
    A mapping whose keys are all ``str`` is used as it is: a lazy one (``inferwatch.tables``)
    then reads each column only when the caller gets to it."""
    if hasattr(data, "columns") and hasattr(data, "__getitem__") and not isinstance(data, Batch):
        return {str(c): data[c] for c in data.columns}  # converted one at a time by the caller
    if isinstance(data, Mapping):
        if all(isinstance(k, str) for k in data):
            return data
        return {str(k): v for k, v in data.items()}
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise SchemaError("data", f"expected a 2-D array, got {arr.ndim}-D")
    cols = list(names) if names is not None else [f"x{i}" for i in range(arr.shape[1])]
    if len(cols) != arr.shape[1]:
        raise SchemaError("names", f"expected {arr.shape[1]} names, got {len(cols)}")
    return {c: arr[:, i] for i, c in enumerate(cols)}


__all__ = [
    "Batch",
    "FeatureSchema",
    "FeatureSpec",
    "QualityCounts",
    "QualityTable",
    "SchemaError",
]
