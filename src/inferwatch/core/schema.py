"""The feature schema: what each input column is, what values it allows, and the quality checks.

A *batch* is ``Mapping[str, numpy.ndarray]``: one 1-D array per schema column, all of the same
length. Numeric columns are float64 (NaN = missing); categorical columns are object arrays of
``str`` or ``None``.

Conversion rules for JSON input (``columns_from_records`` / ``columns_from_split``):

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

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inferwatch.core.jsonbody import encodable
from inferwatch.core.quality import QualityKernel, QualityTable
from inferwatch.core.snapshot import FeatureKind

SCHEMA_FORMAT_VERSION = 1

FloatArray = npt.NDArray[np.float64]
ObjArray = npt.NDArray[np.object_]
BoolArray = npt.NDArray[np.bool_]
IntpArray = npt.NDArray[np.intp]


class SchemaError(ValueError):
    """Input that cannot be used at all; ``field`` names the offending field.

    ``check`` is the quality check the caller should count before answering 4xx
    (``"missing"`` or ``"wrong_type"``).

    >>> err = SchemaError("sepal_length", "expected a number, got 'abc'")
    >>> err.field, err.check, str(err)
    ('sepal_length', 'wrong_type', "sepal_length: expected a number, got 'abc'")
    """

    def __init__(self, field: str, message: str, check: str = "wrong_type") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.check = check


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


class Batch(Mapping[str, np.ndarray]):
    """A batch built from JSON: the columns plus, per column, the rows whose value was coerced
    (counted as ``wrong_type`` by ``FeatureSchema.check``)."""

    def __init__(self, columns: Mapping[str, np.ndarray], coerced: Mapping[str, BoolArray]):
        self.columns = dict(columns)
        self.coerced = dict(coerced)
        self._flagged: tuple[str, ...] | None = None

    @property
    def coerced_names(self) -> tuple[str, ...]:
        """The columns with at least one coerced value (known without a scan when the batch
        came from ``columns_from_records`` or ``columns_from_split``)."""
        if self._flagged is None:
            self._flagged = tuple(k for k, m in self.coerced.items() if m.any())
        return self._flagged

    def __getitem__(self, key: str) -> np.ndarray:
        return self.columns[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)


_ABSENT = object()


def _batch(
    columns: dict[str, np.ndarray], coerced: dict[str, BoolArray], flagged: list[str]
) -> Batch:
    batch = Batch(columns, coerced)
    batch._flagged = tuple(flagged)
    return batch


def _numeric_column(name: str, values: list[Any]) -> tuple[FloatArray, BoolArray, bool]:
    n = len(values)
    kinds = set(map(type, values))
    if kinds <= {float, int}:
        try:
            return np.asarray(values, dtype=np.float64), np.zeros(n, dtype=bool), False
        except OverflowError:  # an integer too large for a float: named below
            pass
    out = np.empty(n, dtype=np.float64)
    coerced = np.zeros(n, dtype=bool)
    flagged = False
    for i, v in enumerate(values):
        t = type(v)
        if v is None:
            out[i] = np.nan
        elif t is float or t is int or (isinstance(v, (int, float, np.number)) and t is not bool):
            if isinstance(v, (bool, np.bool_)):
                raise SchemaError(name, "expected a number, got a boolean")
            try:
                out[i] = float(v)
            except OverflowError:
                raise SchemaError(name, f"row {i}: number too large", "non_finite") from None
        elif isinstance(v, str):
            try:
                out[i] = float(v)
            except ValueError:
                raise SchemaError(name, f"expected a number, got {v[:40]!r}") from None
            coerced[i] = flagged = True
        elif isinstance(v, (bool, np.bool_)):
            raise SchemaError(name, "expected a number, got a boolean")
        else:
            raise SchemaError(name, f"expected a number, got {type(v).__name__}")
    return out, coerced, flagged


def _refuse_text(name: str, values: list[Any]) -> None:
    """Raise for the first value that is not valid Unicode (the store could not keep it)."""
    i = next(i for i, v in enumerate(values) if isinstance(v, str) and not encodable(v))
    raise SchemaError(name, f"value in row {i} is not valid Unicode text (a lone surrogate?)")


def _categorical_column(name: str, values: list[Any]) -> tuple[ObjArray, BoolArray, bool]:
    n = len(values)
    out = np.empty(n, dtype=object)
    coerced = np.zeros(n, dtype=bool)
    if set(map(type, values)) <= {str}:
        if not encodable("".join(values)):
            _refuse_text(name, values)
        out[:] = values
        return out, coerced, False
    flagged = False
    for i, v in enumerate(values):
        if v is None or isinstance(v, str):
            if v is not None and not encodable(v):
                _refuse_text(name, values)
            out[i] = v
        elif isinstance(v, float) and v != v:
            out[i] = None
        elif isinstance(v, (int, float, bool, np.number, np.bool_)):
            out[i] = str(v)
            coerced[i] = flagged = True
        else:
            raise SchemaError(name, f"expected a string, got {type(v).__name__}")
    return out, coerced, flagged


def encode_categories(values: np.ndarray, categories: Sequence[str]) -> npt.NDArray[np.intp]:
    """Index of each value in ``categories``; ``len(categories)`` for anything else (the
    "other" bin) and ``-1`` for missing (``None`` or NaN).

    >>> encode_categories(np.array(["a", "c", None, "b"], dtype=object), ["a", "b"]).tolist()
    [0, 2, -1, 1]
    """
    k = len(categories)
    n = len(values)
    if n > 20_000:
        import pandas as pd  # large batches (reports): pandas' hash table beats a dict loop

        cat = pd.Categorical(values, categories=list(categories))
        codes = np.asarray(cat.codes, dtype=np.intp)
        unknown = (codes < 0) & ~np.asarray(pd.isna(values), dtype=bool)
        codes[unknown] = k
        return codes
    lookup: dict[Any, int] = {c: i for i, c in enumerate(categories)}
    lookup[None] = -1
    codes = np.fromiter(
        map(lookup.get, values.tolist(), itertools.repeat(k, n)), dtype=np.intp, count=n
    )
    rest = np.flatnonzero(codes == k)
    if rest.size:  # NaN floats are missing too
        missing = [i for i, v in zip(rest.tolist(), values[rest].tolist(), strict=True) if v != v]
        codes[missing] = -1
    return codes


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
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def numeric(self) -> tuple[FeatureSpec, ...]:
        return tuple(f for f in self.features if f.kind == "numeric")

    @property
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
    ) -> FeatureSchema:
        """Infer a schema from a pandas DataFrame, a mapping of columns, or a 2-D numpy array
        with ``names``. Columns of bool, object, string or category dtype are categorical, as
        is every column named in ``categorical``; columns in ``exclude`` are left out."""
        columns = _as_columns(data, names)
        forced = set(categorical or ())
        skip = set(exclude or ())
        specs: list[FeatureSpec] = []
        for name, col in columns.items():
            if name in skip:
                continue
            strings = arrow_strings(col)
            if strings is not None:  # a pandas string column: distinct values without copies
                import pyarrow.compute as pc

                cats = sorted(pc.unique(strings).drop_null().to_pylist())
                if len(cats) > max_categories:
                    raise SchemaError(name, f"{len(cats)} categories (max {max_categories})")
                specs.append(FeatureSpec(name, "categorical", categories=tuple(cats)))
                continue
            arr = np.asarray(col)
            is_cat = name in forced or arr.dtype.kind not in "iuf"
            if is_cat:
                import pandas as pd  # hash-based distinct values of big columns

                vals = _as_str_objects(arr)
                cats = sorted(str(v) for v in pd.unique(vals[vals != None]))  # noqa: E711  (elementwise)
                if len(cats) > max_categories:
                    raise SchemaError(name, f"{len(cats)} categories (max {max_categories})")
                specs.append(FeatureSpec(name, "categorical", categories=tuple(cats)))
            else:
                x = arr.astype(np.float64)
                x = x[np.isfinite(x)]
                if x.size == 0:
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

    def save(self, path: str | Path) -> None:
        """Write the schema as JSON (the only file I/O of the schema)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> FeatureSchema:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    # ------------------------------------------------------------------ batches
    def columns_from_records(self, records: Sequence[Any]) -> Batch:
        """Build a batch from ``[{"feature": value, ...}, ...]``."""
        if not isinstance(records, (list, tuple)):
            raise SchemaError("records", "expected a list of objects")
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

    def columns_from_split(self, columns: Sequence[Any], data: Sequence[Any]) -> Batch:
        """Build a batch from the pandas "split" layout: column names and rows of values."""
        if not isinstance(columns, (list, tuple)) or not all(isinstance(c, str) for c in columns):
            raise SchemaError("columns", "expected a list of column names")
        if not isinstance(data, (list, tuple)):
            raise SchemaError("data", "expected a list of rows")
        width = len(columns)
        for i, row in enumerate(data):
            if not isinstance(row, (list, tuple)):
                raise SchemaError(f"data[{i}]", "expected a list of values")
            if len(row) != width:
                raise SchemaError(f"data[{i}]", f"expected {width} values, got {len(row)}")
        index = {c: i for i, c in enumerate(columns)}
        cols: dict[str, np.ndarray] = {}
        coerced: dict[str, BoolArray] = {}
        flagged: list[str] = []
        for spec in self.features:
            j = index.get(spec.name)
            if j is None:
                if spec.required:
                    raise SchemaError(spec.name, "missing required column", "missing")
                values: list[Any] = [None] * len(data)
            else:
                values = [row[j] for row in data]
            cols[spec.name], coerced[spec.name], any_coerced = self._column(spec, values)
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
                out[spec.name] = _as_str_objects(arr)
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


def arrow_strings(column: Any) -> Any:
    """A pandas string column (``str``/``string`` dtype) or a pyarrow string array as a
    pyarrow array, else None: string work on it (distinct values, category codes) then runs
    in Arrow without building one Python ``str`` per value."""
    if type(column).__module__.startswith("pyarrow"):  # read by ``inferwatch.tables``
        import pyarrow as pa

        if not isinstance(column, pa.Array):
            return None
        t = column.type
        if pa.types.is_string(t) or (
            pa.types.is_dictionary(t) and pa.types.is_string(t.value_type)
        ):
            return column
        return None
    dtype = getattr(column, "dtype", None)
    if dtype is None or type(dtype).__name__ != "StringDtype" or not hasattr(column, "array"):
        return None
    import pyarrow as pa

    return pa.array(column)


def string_codes(strings: Any, categories: Sequence[str]) -> IntpArray:
    """``encode_categories`` for a pyarrow string array or dictionary of strings (see
    ``arrow_strings``): the few distinct values are looked up in Python, the codes mapped
    in numpy (no pyarrow scalars: converting Python values would import pandas)."""
    import pyarrow as pa

    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    coded = strings if pa.types.is_dictionary(strings.type) else strings.dictionary_encode()
    k = len(categories)
    index = {c: i for i, c in enumerate(categories)}
    values = coded.dictionary.to_pylist()
    lookup = np.array([index.get(v, k) for v in values] + [-1], dtype=np.intp)
    ix = coded.indices
    n, off = len(ix), ix.offset
    dtype = np.dtype(ix.type.to_pandas_dtype())
    raw = np.frombuffer(ix.buffers()[1], dtype=dtype, count=off + n)[off:].astype(np.intp)
    if ix.null_count:
        bits = np.frombuffer(ix.buffers()[0], dtype=np.uint8)
        valid = np.unpackbits(bits, bitorder="little", count=off + n)[off:].astype(bool)
        raw[~valid] = len(values)  # the -1 at the end of the lookup: missing
    return lookup[raw]


def _as_str_objects(arr: np.ndarray) -> ObjArray:
    """Object array of ``str`` with ``None`` for missing values."""
    import pandas as pd  # vectorised type inference and missing-value test for big columns

    obj = arr.astype(object)
    if pd.api.types.infer_dtype(obj, skipna=True) in ("string", "empty"):
        obj[np.asarray(pd.isna(obj), dtype=bool)] = None
        return obj
    return np.array([None if _missing_scalar(v) else str(v) for v in obj.tolist()], dtype=object)


def _missing_scalar(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v)
    except (TypeError, ValueError):
        return False


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
    "encode_categories",
]
