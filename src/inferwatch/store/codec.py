"""The store's row encoding, shared by its backends: a request's rows as one columnar blob.

``features``: ``{"columns": {name: [values]}, "float64": [names]}``. JSON has no NaN (orjson
writes null), so the names of float columns are kept: a null there reads back as NaN.
Writes are grouped first: runs of compatible items (same model, version, columns,
probability width) become one batch, so a transaction of many small requests stores one blob.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from inferwatch.store.records import PredictionBatch, PredictionRecord

_NUMPY = orjson.OPT_SERIALIZE_NUMPY

# ---------------------------------------------------------------------- the columnar blob
#
# features: {"columns": {name: [values]}, "float64": [names]}. JSON has no NaN (orjson
# writes null), so the names of float columns are kept: a null there reads back as NaN.


def _column_value(values: Any) -> tuple[Any, bool]:
    """A column as orjson takes it, and whether it is a float column."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind in "fiub":
            arr = values if values.flags.c_contiguous else np.ascontiguousarray(values)
            return arr, values.dtype.kind == "f"
        return values.tolist(), False
    values = list(values)
    return values, bool(values) and all(isinstance(v, float) for v in values)


def encode_features(
    columns: Mapping[str, Any], coerced: Mapping[str, np.ndarray] | None = None
) -> bytes:
    cols: dict[str, Any] = {}
    floats: list[str] = []
    for name, values in columns.items():
        cols[name], is_float = _column_value(values)
        if is_float:
            floats.append(name)
    blob: dict[str, Any] = {"columns": cols, "float64": floats}
    if coerced:  # rows whose value came as another type: {"coerced": {name: [rows]}}
        rows = {n: np.flatnonzero(m).tolist() for n, m in coerced.items() if np.any(m)}
        if rows:
            blob["coerced"] = rows
    return orjson.dumps(blob, option=_NUMPY)


def decode_features(blob: bytes | str) -> dict[str, list[Any]]:
    return decode_blob(blob)[0]


def decode_blob(blob: bytes | str) -> tuple[dict[str, list[Any]], dict[int, tuple[str, ...]]]:
    """The columns, and per row with converted values the names of their features."""
    data = orjson.loads(blob)
    cols: dict[str, list[Any]] = data["columns"]
    nan = float("nan")
    for name in data["float64"]:
        col = cols[name]
        if None in col:
            cols[name] = [nan if v is None else v for v in col]
    coerced: dict[int, tuple[str, ...]] = {}
    for name, rows in data.get("coerced", {}).items():
        for row in rows:
            coerced[row] = (*coerced.get(row, ()), name)
    return cols, coerced


def encode_probabilities(probs: Any) -> bytes | None:
    if probs is None:
        return None
    if isinstance(probs, np.ndarray) and probs.dtype.kind == "f":
        probs = probs if probs.flags.c_contiguous else np.ascontiguousarray(probs)
    return orjson.dumps(probs, option=_NUMPY)


class Blobs:
    """Decoded batches, each decoded once however many of its rows are read."""

    def __init__(self) -> None:
        self._cache: dict[
            int, tuple[dict[str, list[Any]], dict[int, tuple[str, ...]], list[Any] | None]
        ] = {}

    def add(self, batch: int, features: bytes, probabilities: bytes | None) -> None:
        if batch not in self._cache:
            probs = None if probabilities is None else orjson.loads(probabilities)
            self._cache[batch] = (*decode_blob(features), probs)

    def __contains__(self, batch: int) -> bool:
        return batch in self._cache

    def row(self, batch: int, row: int) -> tuple[dict[str, Any], list[float] | None]:
        cols, _, probs = self._cache[batch]
        return {k: v[row] for k, v in cols.items()}, None if probs is None else probs[row]

    def coerced(self, batch: int, row: int) -> tuple[str, ...]:
        """Features of that row whose value came as another type (``wrong_type``)."""
        return self._cache[batch][1].get(row, ())


def plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------------- grouping writes


def _record_key(r: PredictionRecord) -> tuple[Any, ...]:
    width = None if r.probabilities is None else len(r.probabilities)
    return (r.timestamp, r.model, r.model_version, tuple(r.features), width)


def _batch_key(b: PredictionBatch) -> tuple[Any, ...]:
    width = None if b.probabilities is None else b.probabilities.shape[-1]
    return (b.model, b.model_version, tuple(b.features), width)


def _from_records(records: Sequence[PredictionRecord]) -> PredictionBatch:
    first = records[0]
    columns = {name: [r.features[name] for r in records] for name in first.features}
    preds = np.empty(len(records), dtype=object)
    preds[:] = [plain(r.prediction) for r in records]
    probs = None
    if first.probabilities is not None:
        probs = np.asarray([list(r.probabilities or ()) for r in records], dtype=np.float64)
    names = {n for r in records for n in r.coerced}
    coerced = {n: np.array([n in r.coerced for r in records]) for n in names} or None
    return PredictionBatch(
        [r.id for r in records],
        first.timestamp,
        first.model,
        first.model_version,
        columns,  # type: ignore[arg-type]  # lists are encoded like arrays
        preds,
        probs,
        coerced,
    )


def _merge(batches: Sequence[PredictionBatch]) -> PredictionBatch:
    if len(batches) == 1:
        return batches[0]
    first = batches[0]
    parts = [b.probabilities for b in batches if b.probabilities is not None]
    probs = np.concatenate(parts) if parts else None  # all or none: grouped by width
    names = {n for b in batches if b.coerced for n in b.coerced}
    coerced = {
        n: np.concatenate(
            [
                b.coerced[n] if b.coerced and n in b.coerced else np.zeros(len(b), dtype=bool)
                for b in batches
            ]
        )
        for n in names
    }
    labels = None
    if any(b.labels is not None for b in batches):
        labels = [x for b in batches for x in (b.labels or [None] * len(b))]
    return PredictionBatch(
        [i for b in batches for i in b.ids],
        first.timestamp,
        first.model,
        first.model_version,
        {n: np.concatenate([np.asarray(b.features[n]) for b in batches]) for n in first.features},
        np.concatenate([np.asarray(b.predictions) for b in batches]),
        probs,
        coerced or None,
        labels,
    )


def _run(run: list[Any], records: bool) -> tuple[PredictionBatch, list[Any]]:
    if records:
        conf = [None if r.confidence is None else float(r.confidence) for r in run]
        return _from_records(run), conf
    batch = _merge(run)
    probs = batch.probabilities
    if probs is not None and probs.ndim == 2 and probs.shape[1]:
        return batch, probs.max(axis=1).tolist()
    return batch, [None] * len(batch.ids)


def groups(
    items: Iterable[PredictionRecord | PredictionBatch],
) -> Iterator[tuple[PredictionBatch, list[Any]]]:
    """Runs of compatible items (same model, version, columns, probability width) as one
    batch each, with the confidence of each row: a transaction of many small requests
    stores one blob."""
    run: list[Any] = []
    key: tuple[Any, ...] | None = None
    for item in items:
        if isinstance(item, PredictionRecord):
            k: tuple[Any, ...] = ("record", *_record_key(item))
        else:
            if not len(item):
                continue
            k = ("batch", *_batch_key(item))
        if run and k != key:
            yield _run(run, key is not None and key[0] == "record")
            run = []
        key = k
        run.append(item)
    if run:
        yield _run(run, key is not None and key[0] == "record")


__all__ = ["Blobs", "decode_features", "encode_features", "encode_probabilities", "groups", "plain"]
