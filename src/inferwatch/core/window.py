"""A sliding window of counts: a ring of time buckets, each a fixed-width vector.

Time comes in with every call (Unix seconds, floats). The bucket of time ``t`` is
``floor(t / bucket_seconds)``; the window at ``t`` is the sum of the buckets whose number lies in
``(bucket(t) - buckets, ...]``. A bucket is reused (zeroed) when a later time maps to its slot, so
memory is ``buckets x width`` whatever the traffic, and a jump in time longer than the window
leaves nothing live. Data stamped older than the window is dropped.

Several features share one window by laying their bins end to end: feature ``f`` bin ``b`` is
slot ``offset[f] + b`` (see ``Layout``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

IntpArray = npt.NDArray[np.intp]


class CountWindow:
    """Counts per slot over the last ``buckets * bucket_seconds`` seconds.

    >>> w = CountWindow(width=3, buckets=2, bucket_seconds=60.0)
    >>> w.add(np.array([0, 2, 2]), timestamp=0.0)
    >>> w.update(1, timestamp=61.0)
    >>> w.counts(61.0).tolist()
    [1, 1, 2]
    >>> w.counts(125.0).tolist()   # the first bucket has left the window
    [0, 1, 0]
    >>> w.get(1000.0).tolist()
    [0, 0, 0]
    """

    def __init__(
        self,
        width: int,
        buckets: int = 60,
        bucket_seconds: float = 60.0,
        dtype: npt.DTypeLike = np.int64,
    ) -> None:
        if width < 1 or buckets < 1 or not bucket_seconds > 0:
            raise ValueError("width, buckets and bucket_seconds must be positive")
        self.width = int(width)
        self.buckets = int(buckets)
        self.bucket_seconds = float(bucket_seconds)
        self._data = np.zeros((self.buckets, self.width), dtype=dtype)
        self._ids = np.full(self.buckets, np.iinfo(np.int64).min, dtype=np.int64)
        self._latest = np.iinfo(np.int64).min
        self._last: tuple[int, int] = (self._latest, 0)

    @property
    def span_seconds(self) -> float:
        return self.buckets * self.bucket_seconds

    def _bucket_id(self, timestamp: float) -> int:
        return math.floor(timestamp / self.bucket_seconds)

    def _row(self, timestamp: float) -> int | None:
        """Ring row for ``timestamp``, zeroed if it held an older bucket; None if too old."""
        bid = math.floor(timestamp / self.bucket_seconds)
        if bid == self._last[0]:  # the bucket of the previous call, still in its row
            return self._last[1]
        if bid <= self._latest - self.buckets:
            return None
        self._latest = max(self._latest, bid)
        slot = bid % self.buckets
        if self._ids[slot] != bid:
            self._data[slot] = 0
            self._ids[slot] = bid
        self._last = (bid, slot)
        return slot

    def add(
        self,
        indices: npt.ArrayLike,
        timestamp: float,
        weights: npt.ArrayLike | None = None,
    ) -> None:
        """Count each index (0 <= index < width) once, or by ``weights``; negative indices are
        skipped (missing values)."""
        idx = np.asarray(indices, dtype=np.intp)
        slot = self._row(timestamp)
        if slot is None or idx.size == 0:
            return
        w = None if weights is None else np.asarray(weights)
        if idx.min() < 0:
            keep = idx >= 0
            idx = idx[keep]
            w = None if w is None else w[keep]
        counts = np.bincount(idx, weights=w, minlength=self.width)
        if counts.size > self.width:
            raise IndexError(f"index {int(idx.max())} out of range for width {self.width}")
        row = self._data[slot]
        row += counts.astype(row.dtype, copy=False)

    update_many = add

    def update(self, index: int, timestamp: float, weight: float = 1) -> None:
        """Count one index."""
        slot = self._row(timestamp)
        if slot is not None and index >= 0:
            self._data[slot, index] += weight

    def increment(self, indices: IntpArray, timestamp: float) -> None:
        """Add one to each of ``indices``, which must be distinct and in range (cheaper than
        ``add`` for a handful of slots: no full-width vector)."""
        slot = self._row(timestamp)
        if slot is not None:
            self._data[slot, indices] += 1

    def add_counts(self, counts: npt.ArrayLike, timestamp: float) -> None:
        """Add a whole vector of counts (length ``width``) to the bucket of ``timestamp``."""
        slot = self._row(timestamp)
        if slot is not None:
            self._data[slot] += np.asarray(counts, dtype=self._data.dtype)

    def add_slots(self, slots: Sequence[int], timestamp: float) -> None:
        """Add one to each of ``slots`` (distinct) in the bucket of ``timestamp``: one row's
        counts, without building the whole vector."""
        slot = self._row(timestamp)
        if slot is not None:
            self._data[slot, slots] += 1

    def live(self, timestamp: float) -> npt.NDArray[np.bool_]:
        """Mask of ring rows inside the window at ``timestamp`` (later buckets count as live:
        a reader whose clock lags the writer's still sees the newest data)."""
        return self._ids > self._bucket_id(timestamp) - self.buckets

    def counts(self, timestamp: float) -> np.ndarray:
        """Sum of the live buckets at ``timestamp`` (a new array of length ``width``)."""
        live = self.live(timestamp)
        data = self._data if live.all() else self._data[live]
        out: np.ndarray = data.sum(axis=0)
        return out

    get = counts

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        """``(bucket numbers, counts)`` of the buckets in use (a copy): what ``merge`` takes
        back, for a window snapshot that outlives the process."""
        used = self._ids != np.iinfo(np.int64).min
        return self._ids[used].copy(), self._data[used].copy()

    def merge(self, ids: npt.ArrayLike, data: npt.ArrayLike) -> None:
        """Add buckets saved by ``state`` (numbers and counts) to this window: buckets too old
        for it are dropped, as ``add`` drops old data; what it holds already stays."""
        rows = np.asarray(data, dtype=self._data.dtype)
        numbers = np.asarray(ids, dtype=np.int64)
        if rows.shape != (numbers.size, self.width):
            raise ValueError(f"saved buckets of shape {rows.shape}, expected (n, {self.width})")
        for bid, row in zip(numbers.tolist(), rows, strict=True):
            self.add_counts(row, (bid + 0.5) * self.bucket_seconds)

    def reset(self) -> None:
        self._data[:] = 0
        self._ids[:] = np.iinfo(np.int64).min
        self._latest = np.iinfo(np.int64).min
        self._last = (self._latest, 0)


class Layout:
    """Feature bins laid end to end in one vector.

    >>> lay = Layout([3, 2])
    >>> lay.width, lay.offsets.tolist()
    (5, [0, 3])
    >>> lay.flat([np.array([0, 2]), np.array([1, -1])]).tolist()
    [0, 2, 4, -1]
    >>> [a.tolist() for a in lay.split(np.arange(5))]
    [[0, 1, 2], [3, 4]]
    """

    def __init__(self, sizes: Sequence[int]) -> None:
        self.sizes = np.asarray(sizes, dtype=np.intp)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.intp)
        self.width = int(self.sizes.sum())

    def flat(self, indices: Sequence[np.ndarray]) -> IntpArray:
        """Concatenate per-feature bin indices into slot indices, keeping -1 for missing."""
        parts = [
            np.where(ix >= 0, ix + off, -1) for ix, off in zip(indices, self.offsets, strict=True)
        ]
        return np.concatenate(parts).astype(np.intp, copy=False) if parts else np.empty(0, np.intp)

    def split(self, vector: np.ndarray) -> list[np.ndarray]:
        return np.split(vector, self.offsets[1:])


__all__ = ["CountWindow", "Layout"]
