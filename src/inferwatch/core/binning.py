"""Exact right-closed binning of many numeric features in a fixed number of numpy calls.

A value ``v`` of a feature with sorted inner edges ``e`` belongs to bin
``#{i : e[i] < v}`` (``np.searchsorted(e, v, side="left")``): bins are ``(a, b]``, the outer ones
open. A binary search per feature costs one numpy call per feature and a mispredicted branch
per level and value; ``GridBinner`` replaces it with a lookup table and one exact comparison.

Each feature's range ``[e[0], e[-1]]`` is cut into ``g`` equal cells, and the cell of a value
is ``min(trunc(clip(v - e[0], 0, e[-1] - e[0]) * (g / (e[-1] - e[0]))), g - 1)`` (NaN goes to
cell 0).
The edges go through exactly the same float operations. Rounding is monotone, so the cell
function never reverses an order: ``v <= e[i]`` implies ``cell(v) <= cell(e[i])``. Hence, for
a value in cell ``c``, every edge whose cell is below ``c`` is below ``v``, every edge whose
cell is above ``c`` is above ``v``, and only edges sharing the cell need a real comparison.
``g`` is chosen per feature so that at most ``depth`` (normally one) edges share a cell, and
the bin is ``first[c] + sum_t (v > e[first[c] + t])`` over ``t < depth`` (the edges are padded
with ``+inf``). Only exact comparisons with the real edges decide, so the result equals the
binary search for every value, including values on an edge, ``±inf`` and ``±0``; a feature
whose edges cannot be spread (heavy tails over a huge range) falls back to the binary search.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntpArray = npt.NDArray[np.intp]

MAX_CELLS = 1 << 14
"""Largest grid per feature (cells of 8 bytes)."""
MAX_DEPTH = 2
"""Most edges allowed in one cell; a feature needing more is binned by binary search."""


def _cells(
    x: FloatArray, low: npt.ArrayLike, span: npt.ArrayLike, scale: npt.ArrayLike, top: npt.ArrayLike
) -> IntpArray:
    """Cell of each value (parameters broadcast over the last axis); the edges go through the
    same function. Clipping to ``[0, span]`` first keeps infinities out of the product (no
    ``inf * 0``); ``fmax`` sends NaN to cell 0."""
    t = np.subtract(x, low)
    np.fmax(t, 0.0, out=t)
    np.fmin(t, span, out=t)
    np.multiply(t, scale, out=t)
    np.fmin(t, top, out=t)
    return t.astype(np.intp)


class GridBinner:
    """Bin values of several numeric features at once, as ``np.searchsorted(edges, v)`` would.

    ``edges`` are each feature's sorted, distinct, finite inner edges; ``offsets`` are added to
    the bins (the features' first slots in a shared count vector).

    >>> b = GridBinner([np.array([0.0, 1.0, 2.0]), np.array([10.0])], offsets=[0, 4])
    >>> x = np.array([[-1.0, 10.0], [0.0, 11.0], [1.5, -np.inf], [np.inf, 9.0]])
    >>> b.slots(x).tolist()
    [[0, 4], [0, 5], [2, 4], [3, 4]]
    """

    def __init__(self, edges: Sequence[FloatArray], offsets: Sequence[int]) -> None:
        self.n_features = len(edges)
        self.edges = [np.asarray(e, dtype=np.float64) for e in edges]
        offsets = [int(o) for o in offsets]
        plans = [_plan(e) for e in self.edges]
        grid = [j for j, p in enumerate(plans) if p is not None]
        self.fallback = [j for j, p in enumerate(plans) if p is None]
        self._grid = np.asarray(grid, dtype=np.intp)
        self._all_grid = len(grid) == self.n_features
        self.depth = max((p[4] for p in plans if p is not None), default=0)
        low, span, scale, top, base, shift = [], [], [], [], [], []
        first_parts: list[IntpArray] = []
        padded_parts: list[FloatArray] = []
        n_cells = n_padded = 0
        for j in grid:
            e = self.edges[j]
            lo, sp, sc, g, _ = plans[j]  # type: ignore[misc]  # grid features have a plan
            low.append(lo)
            span.append(sp)
            scale.append(sc)
            top.append(float(g - 1))
            base.append(n_cells)
            shift.append(offsets[j] - n_padded)
            cell_of_edge = _cells(e, lo, sp, sc, float(g - 1))
            first = np.searchsorted(cell_of_edge, np.arange(g), side="left")
            first_parts.append(first.astype(np.intp) + n_padded)
            padded_parts.append(np.concatenate([e, np.full(max(self.depth, 1), np.inf)]))
            n_cells += g
            n_padded += e.size + max(self.depth, 1)
        self._low = np.asarray(low, dtype=np.float64)
        self._span = np.asarray(span, dtype=np.float64)
        self._scale = np.asarray(scale, dtype=np.float64)
        self._top = np.asarray(top, dtype=np.float64)
        self._base = np.asarray(base, dtype=np.intp)
        self._shift = np.asarray(shift, dtype=np.intp)
        self._first = np.concatenate(first_parts) if first_parts else np.empty(0, np.intp)
        self._padded = np.concatenate(padded_parts) if padded_parts else np.empty(0)
        self._offsets = np.asarray(offsets, dtype=np.intp)

    def slots(self, x: FloatArray) -> IntpArray:
        """``offsets[j] + searchsorted(edges[j], x[:, j], side="left")`` for a rows x features
        array (NaN gets a bin too: mask it afterwards)."""
        x = np.asarray(x, dtype=np.float64)
        if self._all_grid:
            return self._grid_slots(x)
        out = np.empty(x.shape, dtype=np.intp)
        if self._grid.size:
            out[:, self._grid] = self._grid_slots(x[:, self._grid])
        for j in self.fallback:
            out[:, j] = np.searchsorted(self.edges[j], x[:, j], side="left") + self._offsets[j]
        return out

    def _grid_slots(self, x: FloatArray) -> IntpArray:
        pos = _cells(x, self._low, self._span, self._scale, self._top)
        pos += self._base
        pos = self._first.take(pos)
        if self.depth == 1:
            pos += x > self._padded.take(pos)
        else:
            above = np.zeros(pos.shape, dtype=np.intp)
            for t in range(self.depth):
                above += x > self._padded.take(pos + t)
            pos += above
        pos += self._shift
        return pos


def _plan(edges: FloatArray) -> tuple[float, float, float, int, int] | None:
    """``(low, span, scale, cells, depth)`` of a feature's grid, or None to use the binary
    search."""
    k = edges.size
    if k == 0:
        return 0.0, 0.0, 0.0, 1, 0
    low = float(edges[0])
    span = float(edges[-1]) - low
    if k == 1 or span == 0.0:
        return low, 0.0, 0.0, 1, k
    if not np.isfinite(span):
        return None
    best: tuple[float, float, float, int, int] | None = None
    cells = max(2 * k, 16)
    while cells <= MAX_CELLS:
        scale = cells / span
        if not np.isfinite(scale):
            return None
        c = _cells(edges, low, span, scale, float(cells - 1))
        depth = int(np.bincount(c).max())
        if best is None or depth < best[4]:
            best = (low, span, scale, cells, depth)
        if depth == 1:
            break
        cells *= 4
    if best is None or best[4] > MAX_DEPTH:
        return None
    return best


__all__ = ["MAX_CELLS", "MAX_DEPTH", "GridBinner"]
