"""Tables for ``inferwatch replay``: rows sorted by time, as JSON-ready records with their
labels, and the send schedule."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from inferwatch.casting import as_text
from inferwatch.lifecycle.loaders import read_table


class ReplayError(ValueError):
    """The table or the options cannot be replayed (names the column or option at fault)."""


def schedule(
    n_rows: int,
    *,
    timestamps: Sequence[float] | np.ndarray | None = None,
    speed: float | None = None,
    rate: float | None = None,
) -> np.ndarray:
    """Send offsets in seconds from the start, one per row (rows already in time order).

    With ``rate`` rows go out at that many rows per second; with ``timestamps`` and
    ``speed`` the gaps between the rows' own timestamps are divided by ``speed``; with
    neither, as fast as the service answers.

    >>> schedule(3, rate=2.0).tolist()
    [0.0, 0.5, 1.0]
    >>> schedule(3, timestamps=[100.0, 160.0, 400.0], speed=60.0).tolist()
    [0.0, 1.0, 5.0]
    """
    if rate is not None and speed is not None:
        raise ReplayError("give either speed or rate, not both")
    if rate is not None:
        if not rate > 0:
            raise ReplayError(f"rate must be > 0 rows per second, got {rate}")
        return np.arange(n_rows, dtype=np.float64) / rate
    if timestamps is None or speed is None:
        return np.zeros(n_rows, dtype=np.float64)
    if not speed > 0:
        raise ReplayError(f"speed must be > 0, got {speed}")
    ts = np.asarray(timestamps, dtype=np.float64)
    if ts.shape != (n_rows,):
        raise ReplayError("one timestamp per row is needed")
    if n_rows == 0:
        return ts
    offsets: np.ndarray = (ts - ts[0]) / speed
    return offsets


def timestamps_of(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Unix seconds from a column of numbers (seconds) or date-time strings/values."""
    if column not in frame.columns:
        raise ReplayError(f"timestamp column {column!r} is not in the data")
    values = frame[column]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        seconds = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        try:
            parsed = pd.to_datetime(values, utc=True, format="mixed")
        except (ValueError, TypeError) as exc:
            raise ReplayError(f"timestamp column {column!r}: cannot parse as time: {exc}") from exc
        seconds = (
            (parsed - pd.Timestamp(0, tz="UTC"))
            .dt.total_seconds()
            .to_numpy(dtype=np.float64, na_value=np.nan)
        )
    if np.isnan(seconds).any():
        row = int(np.flatnonzero(np.isnan(seconds))[0])
        raise ReplayError(f"timestamp column {column!r}: missing value in row {row}")
    return seconds


def _json_value(value: Any) -> Any:
    """A JSON-safe scalar: numpy scalars to Python, NaN/NaT/None to null."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _label_value(value: Any) -> Any:
    """A label as JSON: whole floats become ints, so a class column that pandas read as
    float (because of a gap) still says ``1``, not ``1.0``; a regressor takes either."""
    out = _json_value(value)
    if isinstance(out, float) and out.is_integer():
        return int(out)
    return out


def _column_values(values: pd.Series) -> list[Any]:
    """One column as JSON-ready Python values: numbers and flags in bulk, anything else
    (text, times, mixed) one value at a time."""
    kind = values.dtype.kind if isinstance(values.dtype, np.dtype) else "O"
    if kind in "iub":
        return list(values.to_numpy().tolist())
    if kind == "f":
        arr = values.to_numpy()
        out: list[Any] = arr.tolist()
        for i in np.flatnonzero(~np.isfinite(arr)).tolist():
            out[i] = None
        return out
    return [_json_value(v) for v in values.to_numpy(dtype=object)]


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (missing values become null)."""
    columns = [str(c) for c in frame.columns]
    lists = [_column_values(frame[c]) for c in frame.columns]
    if not lists:
        return [{} for _ in range(len(frame))]
    return [dict(zip(columns, row, strict=True)) for row in zip(*lists, strict=True)]


def labels_from_file(path: Path, n_rows: int, column: str | None = None) -> list[Any]:
    """Labels aligned row by row with the replayed table.

    The file is CSV or Parquet; the label column is ``column``, else the only column, else
    one named ``label``.
    """
    table = read_table(path)
    if column is not None and column in table.columns:
        chosen = column
    elif table.shape[1] == 1:
        chosen = str(table.columns[0])
    elif "label" in table.columns:
        chosen = "label"
    else:
        raise ReplayError(
            f"labels file {path}: cannot tell the label column among {list(table.columns)}; "
            "keep one column or name it 'label'"
        )
    if len(table) != n_rows:
        raise ReplayError(
            f"labels file {path} has {len(table)} rows but the data has {n_rows}; "
            "labels are matched to rows by position"
        )
    return [_label_value(v) for v in table[chosen].to_numpy(dtype=object)]


def prepare(
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    labels_path: Path | None = None,
    timestamp_column: str | None = None,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
) -> tuple[list[dict[str, Any]], list[Any] | None, np.ndarray | None]:
    """Sort by time and split a table into feature records, labels and timestamps; the
    ``categorical`` columns are sent as text."""
    if target is not None and labels_path is None and target not in frame.columns:
        raise ReplayError(
            f"target column {target!r} is not in the data (columns: {list(frame.columns)})"
        )
    missing = [c for c in drop if c not in frame.columns]
    if missing:
        raise ReplayError(f"column {missing[0]!r} to drop is not in the data")
    labels: list[Any] | None = None
    if labels_path is not None:
        labels = labels_from_file(labels_path, len(frame), target)
    timestamps: np.ndarray | None = None
    if timestamp_column is not None:
        timestamps = timestamps_of(frame, timestamp_column)
        order = np.argsort(timestamps, kind="stable")
        frame = frame.iloc[order].reset_index(drop=True)
        timestamps = timestamps[order]
        if labels is not None:
            labels = [labels[i] for i in order]
    if labels is None and target is not None:
        labels = [_label_value(v) for v in frame[target].to_numpy(dtype=object)]
    not_features = {*drop}
    if target is not None:
        not_features.add(target)
    if timestamp_column is not None:
        not_features.add(timestamp_column)
    features = frame[[c for c in frame.columns if c not in not_features]].copy()
    # a CSV reads integer-coded categories back as numbers: send them as the text the served
    # model's schema expects, so CSV and Parquet of the same data are monitored alike
    for name in categorical:
        if name in features.columns:
            features[name] = as_text(features[name])
    return records_of(features), labels, timestamps


__all__ = [
    "ReplayError",
    "labels_from_file",
    "prepare",
    "records_of",
    "schedule",
    "timestamps_of",
]
