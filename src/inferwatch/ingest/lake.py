"""``LakeSource``: Parquet and CSV files in a directory or an object-store prefix, exactly once.

``file:///lake/readings/`` or ``s3://bucket/prefix/`` (any fsspec URL). Files are read in the
order of their paths, so date partitions (``date=2026-11-23/part-0.parquet``) come in date
order; a new file or partition is found at the next listing. Each file is streamed in
record batches of ``batch_size`` rows (Parquet row groups, CSV blocks), so memory does not
grow with the file. The durable ``LakeCursor`` moves only in ``Delivery.commit``, after
the service stored the rows; on restart reading resumes at the first row not stored.

Every listing and every batch read is a request in the source metrics: ``200``, or ``503``
/ ``connect_error`` / ``timeout`` / ``403`` when the store fails (the reader reopens the
file at the cursor next time). A file that cannot be parsed is counted ``unreadable`` and
skipped so it cannot block the ones after it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from inferwatch.casting import cast_table
from inferwatch.core.schema import FeatureSchema
from inferwatch.ingest.cursor import LakeCursor
from inferwatch.ingest.delivery import Delivery
from inferwatch.ingest.metrics import SourceMetrics

log = logging.getLogger(__name__)

SUFFIXES = (".parquet", ".pq", ".csv")

Batch = tuple[str, int, pa.RecordBatch | None]  # file, first row, rows (None: end of file)


def status_of(exc: BaseException) -> str:
    """The request outcome of a storage failure, in the words of the source metrics.

    >>> status_of(ConnectionRefusedError()), status_of(TimeoutError()), status_of(PermissionError())
    ('connect_error', 'timeout', '403')
    >>> status_of(OSError("An error occurred (SlowDown): 503 Service Unavailable"))
    '503'
    """
    text = f"{type(exc).__name__} {exc}"
    if isinstance(exc, TimeoutError) or "Timeout" in text:
        return "timeout"
    if isinstance(exc, PermissionError) or "AccessDenied" in text or "Forbidden" in text:
        return "403"
    if isinstance(exc, FileNotFoundError):
        return "404"
    if any(w in text for w in ("503", "SlowDown", "ServiceUnavailable", "Service Unavailable")):
        return "503"
    if isinstance(exc, ConnectionError) or "connect" in text.lower():
        return "connect_error"
    if "500" in text or "InternalError" in text:
        return "500"
    return "503"


def _mtime(info: dict[str, Any]) -> float:
    value = info.get("mtime", info.get("LastModified", info.get("created")))
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value) if value is not None else time.time()


class LakeSource:
    """Rows of the lake's files, in path order, as deliveries of ``batch_size`` rows.

    ``id_field`` names the column holding each row's own id, ``label_field`` the column
    holding its ground truth (both leave the features). With ``labels_only`` the files hold
    labels alone (``id_field`` and ``label_field`` columns) joined to earlier rows by id.
    ``schema`` casts the feature columns (see ``inferwatch.casting``).
    """

    def __init__(
        self,
        url: str,
        cursor: LakeCursor,
        metrics: SourceMetrics,
        *,
        name: str = "lake",
        batch_size: int = 500,
        id_field: str | None = None,
        label_field: str | None = "label",
        labels_only: bool = False,
        schema: FeatureSchema | None = None,
        storage_options: dict[str, Any] | None = None,
        poll_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import fsspec

        self.fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        self.root = root.rstrip("/")
        self.cursor = cursor
        self.metrics = metrics
        self.name = name
        self.batch_size = batch_size
        self.id_field = id_field
        self.label_field = label_field
        self.labels_only = labels_only
        self.schema = schema
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._pending: dict[str, float] = {}
        self._reader: Iterator[Batch] | None = None
        self._reading = ""
        self._listed_at = float("-inf")
        self._ahead: asyncio.Future[Batch | None] | None = None
        metrics.prepare(name)
        if labels_only and not (id_field and label_field):
            raise ValueError("a labels lake needs both an id column and a label column")

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:  # let the read in flight end before dropping its reader
            await asyncio.gather(ahead, return_exceptions=True)
        self._reader = None

    def lag(self, now: float) -> float:
        return max(0.0, now - min(self._pending.values())) if self._pending else 0.0

    def _timed(self, call: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            result = call()
        except (pa.ArrowInvalid, UnicodeDecodeError):
            raise
        except Exception as exc:
            status = status_of(exc)
            self.metrics.record(self.name, status, time.perf_counter() - start, self.clock())
            raise _ReadFailed(status, exc) from exc
        self.metrics.record(self.name, "200", time.perf_counter() - start, self.clock())
        return result

    def _list(self) -> None:
        found = self._timed(lambda: self.fs.find(self.root, detail=True))
        self._pending = {
            path: _mtime(info)
            for path, info in sorted(found.items())
            if path.lower().endswith(SUFFIXES) and path not in self.cursor.done
        }
        self._listed_at = time.monotonic()

    def _batches(self, path: str) -> Iterator[Batch]:
        start = self.cursor.position(path)
        handle = self._timed(lambda: self.fs.open(path, "rb"))
        with handle:
            if path.lower().endswith(".csv"):
                reader: Iterator[pa.RecordBatch] = _csv_batches(handle, self._timed)
                row = 0
            else:
                reader, row = _parquet_batches(handle, start, self.batch_size, self._timed)
            for batch in reader:
                for offset in range(0, batch.num_rows, self.batch_size):
                    piece = batch.slice(offset, self.batch_size)
                    end = row + piece.num_rows
                    if end > start:
                        yield path, max(row, start), piece.slice(max(0, start - row))
                    row = end
        yield path, row, None

    def _read(self) -> Batch | None:
        """The next batch in path order (blocking; run in a thread)."""
        while True:
            if self._reader is None:
                if not self._pending or time.monotonic() - self._listed_at >= self.poll_seconds:
                    self._list()
                if not self._pending:
                    return None
                self._reading = next(iter(self._pending))
                self._reader = self._batches(self._reading)
            try:
                return next(self._reader)
            except StopIteration:
                self._reader = None

    def _read_on(self) -> Batch | None:
        """The next batch of the file being read (``None`` past its end; blocking)."""
        reader = self._reader
        if reader is None:
            return None
        try:
            return next(reader)
        except StopIteration:
            self._reader = None
            return None

    async def next(self, wait: float) -> Delivery | None:
        """The next delivery. While the service takes one, the next batch of the same file is
        read ahead in a thread (never across files: listing and the cursor stay in step)."""
        ahead, self._ahead = self._ahead, None
        try:
            batch = await ahead if ahead is not None else None
            if batch is None:
                batch = await asyncio.to_thread(self._read)
        except _ReadFailed as exc:
            log.warning("%s: read failed (%s): %s", self.name, exc.status, type(exc.cause).__name__)
            self._reader = None
            await asyncio.sleep(wait)
            return None
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            return self._skip_unreadable(exc)
        if batch is None:
            await asyncio.sleep(wait)
            return None
        delivery = self._delivery(*batch)
        if batch[2] is not None and self._reader is not None:
            self._ahead = asyncio.ensure_future(asyncio.to_thread(self._read_on))
        return delivery

    def _skip_unreadable(self, exc: Exception) -> Delivery:
        path = self._reading
        log.error("%s: skipping unreadable file %s: %s", self.name, path, exc)
        self.metrics.error(self.name, "unreadable")
        self._reader = None
        return Delivery([], commit=lambda: self._finish(path, 0))

    def _finish(self, path: str, row: int) -> None:
        self.cursor.advance(path, row, finished=True)
        self._pending.pop(path, None)

    def _delivery(self, path: str, row: int, batch: pa.RecordBatch | None) -> Delivery:
        oldest = self._pending.get(path)
        if batch is None:
            return Delivery([], oldest=oldest, commit=lambda: self._finish(path, row))
        end = row + batch.num_rows

        def commit() -> None:
            self.cursor.advance(path, end, finished=False)

        if self.schema is not None and not self.labels_only:
            batch = cast_table(batch, self.schema)
        columns = batch.to_pydict()
        ids = _pop(columns, self.id_field)
        labels = _pop(columns, self.label_field)
        if self.labels_only:
            assert ids is not None and labels is not None
            pairs = [(str(i), y) for i, y in zip(ids, labels, strict=True) if i is not None]
            return Delivery([], late_labels=pairs, oldest=oldest, commit=commit)
        names = list(columns)
        records = [
            dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=False)
        ]
        return Delivery(
            records,
            ids=None if ids is None else [str(i) for i in ids],
            labels=labels,
            oldest=oldest,
            commit=commit,
        )


class _ReadFailed(Exception):
    def __init__(self, status: str, cause: BaseException) -> None:
        super().__init__(status)
        self.status = status
        self.cause = cause


def _pop(columns: dict[str, list[Any]], name: str | None) -> list[Any] | None:
    return columns.pop(name, None) if name else None


def _parquet_batches(
    handle: Any, start: int, batch_size: int, timed: Callable[[Callable[[], Any]], Any]
) -> tuple[Iterator[pa.RecordBatch], int]:
    """Record batches from the row group holding row ``start``, and that group's first row."""
    pf = timed(lambda: pq.ParquetFile(handle))
    first, groups = 0, list[int]()
    for g in range(pf.metadata.num_row_groups):
        rows = pf.metadata.row_group(g).num_rows
        if first + rows <= start and not groups:
            first += rows
            continue
        groups.append(g)
    return _timed_iter(pf.iter_batches(batch_size=batch_size, row_groups=groups), timed), first


def _csv_batches(
    handle: Any, timed: Callable[[Callable[[], Any]], Any]
) -> Iterator[pa.RecordBatch]:
    reader = timed(lambda: pcsv.open_csv(handle, read_options=pcsv.ReadOptions(block_size=1 << 20)))
    return _timed_iter(reader, timed)


def _timed_iter(
    it: Iterator[pa.RecordBatch], timed: Callable[[Callable[[], Any]], Any]
) -> Iterator[pa.RecordBatch]:
    done = object()
    while True:
        batch = timed(lambda: next(it, done))
        if batch is done:
            return
        yield batch


__all__ = ["LakeSource", "status_of"]
