"""A batch of input columns built from JSON, and the conversion of one JSON column into an array.

``SchemaError`` is what a conversion raises for input that cannot be used at all; the rules
themselves are described in ``inferwatch.core.schema``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

from inferwatch.core.jsonbody import encodable

FloatArray = npt.NDArray[np.float64]
ObjArray = npt.NDArray[np.object_]
BoolArray = npt.NDArray[np.bool_]


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
        came from ``columns_from_records`` or ``columns_from_values``)."""
        if self._flagged is None:
            self._flagged = tuple(k for k, m in self.coerced.items() if m.any())
        return self._flagged

    def __getitem__(self, key: str) -> np.ndarray:
        return self.columns[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)


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


_NUMBERS = frozenset({float, int})


def _numeric_records(
    names: Sequence[str], getter: Callable[[Any], tuple[Any, ...]], records: Sequence[Any]
) -> Batch | None:
    """The batch of ``records`` when every feature is numeric and every record holds every
    feature as a plain ``int`` or ``float``: one float matrix built at once, each column a
    contiguous row of it. ``None`` for anything else (absent values, text, booleans, an
    integer too large for a float, a record that is not an object): the caller then converts
    column by column, with its checks and its errors.
    """
    try:
        rows = list(map(getter, records))
    except (KeyError, TypeError):
        return None
    if not set(map(type, chain.from_iterable(rows))) <= _NUMBERS:
        return None
    n, width = len(rows), len(names)
    try:
        flat = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=n * width)
    except OverflowError:
        return None
    matrix = flat.reshape(n, width).T.copy()
    unflagged = np.zeros((width, n), dtype=bool)
    return _batch(
        dict(zip(names, matrix, strict=True)), dict(zip(names, unflagged, strict=True)), []
    )


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


__all__ = ["Batch", "SchemaError"]
