"""Replay a table through a running inferwatch service, in time order, with delayed labels.

``inferwatch replay DATA --url URL`` rehearses monitoring on your own history: rows go to
``POST /predict`` in the order of their timestamps (the gaps compressed by ``speed``) or at
a fixed ``rate``, and each batch's ground truth goes to ``POST /feedback`` ``label_delay``
seconds after its predictions, joined by the ids the service answered with.

The schedule is computed up front (:func:`schedule`); the sender only sleeps until each
offset, so a slow service stretches the replay instead of bunching requests.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from inferwatch.casting import as_text
from inferwatch.lifecycle.loaders import read_table

MAX_REQUEST_ROWS = 1000
"""Most rows in one request: the service's default ``INFERWATCH_MAX_BATCH_ROWS``."""


class ReplayError(ValueError):
    """The table or the options cannot be replayed (names the column or option at fault)."""


@dataclass
class ReplaySummary:
    """What a replay did; printed at the end of ``inferwatch replay``."""

    rows: int = 0
    """Rows in the table."""
    rows_sent: int = 0
    """Rows the service scored (2xx)."""
    requests: int = 0
    errors: int = 0
    """Rows in requests that failed (non-2xx answer or no answer)."""
    labels_sent: int = 0
    labels_matched: int = 0
    """Labels the service joined to a stored prediction."""
    feedback_errors: int = 0
    """Labels in feedback requests that failed."""
    seconds: float = 0.0
    error_messages: list[str] = field(default_factory=list)
    """The first few error answers, for the user to read."""

    def lines(self) -> list[str]:
        out = [
            f"rows sent      {self.rows_sent}/{self.rows} in {self.requests} requests "
            f"({self.seconds:.1f}s)",
            f"errors         {self.errors} rows",
            f"labels         {self.labels_sent} sent, {self.labels_matched} matched",
        ]
        if self.feedback_errors:
            out.append(f"label errors   {self.feedback_errors} labels")
        out.extend(f"  ! {message}" for message in self.error_messages)
        return out


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


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (missing values become null)."""
    columns = [str(c) for c in frame.columns]
    arrays = [frame[c].to_numpy(dtype=object) for c in frame.columns]
    return [
        {name: _json_value(arr[i]) for name, arr in zip(columns, arrays, strict=True)}
        for i in range(len(frame))
    ]


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


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    labels: list[dict[str, Any]] = field(compare=False)


class Replayer:
    """Sends rows and labels over one HTTP client; see :func:`replay`."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_messages: int = 5,
    ) -> None:
        self._client = client
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._clock = clock
        self._sleep = sleep
        self._max_messages = max_messages
        self._pending: list[_Due] = []
        self._seq = 0

    def _note(self, summary: ReplaySummary, message: str) -> None:
        if len(summary.error_messages) < self._max_messages:
            summary.error_messages.append(message)

    def _post(self, path: str, body: Mapping[str, Any]) -> tuple[httpx.Response | None, str]:
        try:
            return self._client.post(path, json=body, headers=self._headers), ""
        except httpx.HTTPError as exc:
            return None, f"POST {path}: {type(exc).__name__}: {exc}"

    def _send_labels(self, summary: ReplaySummary, labels: list[dict[str, Any]]) -> None:
        response, problem = self._post("/feedback", {"labels": labels})
        summary.labels_sent += len(labels)
        if response is None or not response.is_success:
            summary.feedback_errors += len(labels)
            if response is not None:
                problem = f"POST /feedback -> {response.status_code}: {response.text[:300]}"
            self._note(summary, problem)
            return
        summary.labels_matched += _matched(response, len(labels))

    def run(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        offsets: np.ndarray,
        labels: Sequence[Any] | None = None,
        label_delay: float = 0.0,
        batch_size: int | None = None,
        max_request_rows: int = MAX_REQUEST_ROWS,
        on_batch: Callable[[ReplaySummary], None] | None = None,
    ) -> ReplaySummary:
        """Send ``records`` at their ``offsets``. With ``batch_size`` rows go in groups of
        that many, each at its first row's time; without it, every row already due goes in
        one request. A request never holds more than ``max_request_rows`` (the service's
        ``INFERWATCH_MAX_BATCH_ROWS``): a larger group is split."""
        if batch_size is not None and batch_size < 1:
            raise ReplayError(f"batch size must be >= 1, got {batch_size}")
        if max_request_rows < 1:
            raise ReplayError(f"most rows per request must be >= 1, got {max_request_rows}")
        if label_delay < 0:
            raise ReplayError(f"label delay must be >= 0 seconds, got {label_delay}")
        summary = ReplaySummary(rows=len(records))
        self._pending = []
        start = self._clock()
        first = 0
        while first < len(records):
            send_at = start + float(offsets[first])
            # Labels that fall due before this batch leave first, in their own time.
            while self._pending and self._pending[0].at < send_at:
                self._wait_until(self._pending[0].at)
                self._flush_due(summary, self._pending[0].at)
            self._wait_until(send_at)
            if batch_size is None:
                end, now = first + 1, self._clock()
                while (
                    end < len(records)
                    and end - first < max_request_rows
                    and start + float(offsets[end]) <= now
                ):
                    end += 1
            else:
                end = min(first + batch_size, len(records))
            for lo in range(first, end, max_request_rows):
                hi = min(lo + max_request_rows, end)
                self._send_rows(summary, records[lo:hi], labels, lo, label_delay)
            if on_batch is not None:
                on_batch(summary)
            first = end
        while self._pending:
            self._wait_until(self._pending[0].at)
            self._flush_due(summary, self._pending[0].at)
        summary.seconds = self._clock() - start
        return summary

    def _wait_until(self, at: float) -> None:
        wait = at - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _flush_due(self, summary: ReplaySummary, until: float) -> None:
        ready: list[dict[str, Any]] = []
        while self._pending and self._pending[0].at <= until:
            ready.extend(heapq.heappop(self._pending).labels)
        if ready:
            self._send_labels(summary, ready)

    def _send_rows(
        self,
        summary: ReplaySummary,
        batch: Sequence[Mapping[str, Any]],
        labels: Sequence[Any] | None,
        first: int,
        label_delay: float,
    ) -> None:
        """One ``POST /predict`` of ``batch`` (rows ``first``...); its labels are queued."""
        response, problem = self._post("/predict", {"instances": list(batch)})
        summary.requests += 1
        if response is None or not response.is_success:
            summary.errors += len(batch)
            if response is not None:
                problem = f"POST /predict -> {response.status_code}: {response.text[:300]}"
            self._note(summary, problem)
            return
        ids = _ids(response)
        summary.rows_sent += len(batch)
        if labels is None:
            return
        if ids is None:
            self._note(summary, "POST /predict answered without ids; labels not sent")
            return
        batch_labels = [
            {"id": pid, "label": label}
            for pid, label in zip(ids, labels[first : first + len(batch)], strict=False)
            if label is not None
        ]
        if batch_labels:
            self._seq += 1
            due = _Due(self._clock() + label_delay, self._seq, batch_labels)
            heapq.heappush(self._pending, due)


def _ids(response: httpx.Response) -> list[Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    ids = body.get("ids") if isinstance(body, dict) else None
    return list(ids) if isinstance(ids, list) else None


def _matched(response: httpx.Response, sent: int) -> int:
    """Labels the service says it joined; a 2xx without a count means all of them."""
    try:
        body = response.json()
    except ValueError:
        return sent
    if isinstance(body, dict):
        counts = body.get("counts")
        if isinstance(counts, dict) and isinstance(counts.get("matched"), int):
            return int(counts["matched"])
        value = body.get("matched")
        if isinstance(value, int):
            return value
        if isinstance(value, list):
            return len(value)
    return sent


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


def served_categoricals(client: httpx.Client, headers: Mapping[str, str]) -> list[str]:
    """The categorical inputs of the model the service serves (from ``/api/snapshot``);
    empty when the service does not say."""
    try:
        response = client.get("/api/snapshot", headers=dict(headers))
        features = response.json().get("features", []) if response.is_success else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return []
    return [
        str(f["name"])
        for f in features
        if isinstance(f, dict) and f.get("kind") == "categorical" and "name" in f
    ]


def replay(
    frame: pd.DataFrame,
    *,
    url: str,
    target: str | None = None,
    labels_path: Path | None = None,
    timestamp_column: str | None = None,
    drop: Sequence[str] = (),
    speed: float | None = None,
    rate: float | None = None,
    label_delay: float = 0.0,
    batch_size: int | None = None,
    max_request_rows: int = MAX_REQUEST_ROWS,
    token: str | None = None,
    timeout: float = 30.0,
    on_batch: Callable[[ReplaySummary], None] | None = None,
) -> ReplaySummary:
    """Replay ``frame`` through the service at ``url``; see the module docstring."""
    if speed is not None and timestamp_column is None:
        raise ReplayError("--speed needs --timestamp-column (or use --rate)")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout) as client:
        records, labels, timestamps = prepare(
            frame,
            target=target,
            labels_path=labels_path,
            timestamp_column=timestamp_column,
            drop=drop,
            categorical=served_categoricals(client, headers),
        )
        offsets = schedule(len(records), timestamps=timestamps, speed=speed, rate=rate)
        return Replayer(client, token=token).run(
            records,
            offsets=offsets,
            labels=labels,
            label_delay=label_delay,
            batch_size=batch_size,
            max_request_rows=max_request_rows,
            on_batch=on_batch,
        )


__all__ = [
    "MAX_REQUEST_ROWS",
    "ReplayError",
    "ReplaySummary",
    "Replayer",
    "labels_from_file",
    "prepare",
    "records_of",
    "replay",
    "schedule",
    "served_categoricals",
    "timestamps_of",
]
