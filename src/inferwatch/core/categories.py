"""Category codes: the index of each value among a feature's categories.

``encode_categories`` is the one rule every part of the core codes categorical values with:
the index in ``categories``, ``len(categories)`` for anything else (the "other" bin) and
``-1`` for missing (``None`` or NaN). Large columns go through pandas' or Arrow's hash tables.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

IntpArray = npt.NDArray[np.intp]
ObjArray = npt.NDArray[np.object_]


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


def _dictionary(strings: Any) -> tuple[Any, np.ndarray]:
    """A pyarrow string array or dictionary of strings as a dictionary, and its codes as
    numpy integers (their own width, no copy) with missing values left out."""
    import pyarrow as pa

    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    coded = strings if pa.types.is_dictionary(strings.type) else strings.dictionary_encode()
    ix = coded.indices
    n, off = len(ix), ix.offset
    dtype = np.dtype(ix.type.to_pandas_dtype())
    raw = np.frombuffer(ix.buffers()[1], dtype=dtype, count=off + n)[off:]
    if ix.null_count:
        bits = np.frombuffer(ix.buffers()[0], dtype=np.uint8)
        raw = raw[np.unpackbits(bits, bitorder="little", count=off + n)[off:].astype(bool)]
    return coded, raw


def _tally(raw: np.ndarray, size: int) -> npt.NDArray[np.int64]:
    """``np.bincount(raw, minlength=size)`` a slice at a time: bincount widens its input to
    ``intp``, a copy of the whole column otherwise."""
    out = np.zeros(size, dtype=np.int64)
    for start in range(0, raw.size, 1 << 16):
        out += np.bincount(raw[start : start + (1 << 16)], minlength=size)
    return out


def string_counts(strings: Any, categories: Sequence[str]) -> npt.NDArray[np.int64]:
    """How many values of a pyarrow string array or dictionary of strings fall in each of
    ``categories`` and, last, in none (the "other" bin); missing values are left out. The
    same counts as ``encode_categories`` codes would give, without a code per value."""
    coded, raw = _dictionary(strings)
    k = len(categories)
    index = {c: i for i, c in enumerate(categories)}
    lookup = np.array([index.get(v, k) for v in coded.dictionary.to_pylist()], dtype=np.intp)
    per_value = _tally(raw, lookup.size)
    return np.bincount(lookup, weights=per_value, minlength=k + 1).astype(np.int64)


def string_values(strings: Any) -> list[str]:
    """The distinct strings of a pyarrow string array or dictionary of strings (see
    ``arrow_strings``), missing values left out, in no particular order. A dictionary's are
    the entries its codes use, found in numpy: Arrow's compute kernels, which a hash of the
    values would need, cost more memory than a batch report of many columns."""
    import pyarrow as pa

    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    if not pa.types.is_dictionary(strings.type):
        import pyarrow.compute as pc

        return [v for v in pc.unique(strings).to_pylist() if v is not None]
    coded, raw = _dictionary(strings)
    words = coded.dictionary.to_pylist()
    used = np.flatnonzero(_tally(raw, len(words)))
    return list({words[i] for i in used.tolist()} - {None})


def as_str_objects(arr: np.ndarray) -> ObjArray:
    """Object array of ``str`` with ``None`` for missing values."""
    import pandas as pd  # vectorised type inference and missing-value test for big columns

    obj = arr.astype(object)
    if pd.api.types.infer_dtype(obj, skipna=True) in ("string", "empty"):
        obj[np.asarray(pd.isna(obj), dtype=bool)] = None
        return obj
    return np.array([None if missing_scalar(v) else str(v) for v in obj.tolist()], dtype=object)


def missing_scalar(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v)
    except (TypeError, ValueError):
        return False


__all__ = [
    "arrow_strings",
    "as_str_objects",
    "encode_categories",
    "missing_scalar",
    "string_counts",
    "string_values",
]
