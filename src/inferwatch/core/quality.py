"""Data-quality checks: the one kernel the schema and the monitor both count with.

A batch's quality is a features x ``Check`` table of counts plus a mask of the rows with any
issue. ``QualityKernel`` holds what the checks need from the schema (which features are
numeric, their ranges, the position of each name) and fills the table column by ``Check``,
never by a bare index.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from inferwatch.core.schema import FeatureSpec

BoolArray = npt.NDArray[np.bool_]
CountTable = npt.NDArray[np.int64]


class Check(IntEnum):
    """The quality checks, in the column order of every quality table."""

    MISSING = 0
    NON_FINITE = 1
    OUT_OF_RANGE = 2
    UNKNOWN_CATEGORY = 3
    WRONG_TYPE = 4

    @property
    def label(self) -> str:
        """The name in metrics and the API (``missing``, ``non_finite``, ...)."""
        return self.name.lower()


QUALITY_CHECKS: tuple[str, ...] = tuple(c.label for c in Check)
"""The checks' labels in table order."""


class QualityTable(Mapping[tuple[str, str], int]):
    """``(feature, check)`` to count over a features x ``Check`` table; the plain dict is
    built on first read (most batches' counts are never looked at one by one)."""

    def __init__(self, keys: Sequence[tuple[str, str]], table: CountTable) -> None:
        self._keys = keys
        self._table = table
        self._dict: dict[tuple[str, str], int] | None = None

    def _data(self) -> dict[tuple[str, str], int]:
        if self._dict is None:
            self._dict = dict(zip(self._keys, self._table.ravel().tolist(), strict=True))
        return self._dict

    def __getitem__(self, key: tuple[str, str]) -> int:
        return self._data()[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"QualityTable({self._data()!r})"


@dataclass(frozen=True, eq=False)
class QualityKernel:
    """The checks of one schema. ``numeric`` and ``categorical`` are feature positions;
    ``lo``/``hi`` the numeric features' allowed ranges (infinite when unset)."""

    names: tuple[str, ...]
    numeric: npt.NDArray[np.intp]
    categorical: npt.NDArray[np.intp]
    lo: npt.NDArray[np.float64]
    hi: npt.NDArray[np.float64]

    @classmethod
    def of(cls, features: Sequence[FeatureSpec]) -> QualityKernel:
        num = [i for i, f in enumerate(features) if f.kind == "numeric"]
        cat = [i for i, f in enumerate(features) if f.kind != "numeric"]
        lo = [-np.inf if features[i].min is None else features[i].min for i in num]
        hi = [np.inf if features[i].max is None else features[i].max for i in num]
        return cls(
            tuple(f.name for f in features),
            np.asarray(num, dtype=np.intp),
            np.asarray(cat, dtype=np.intp),
            np.asarray(lo, dtype=np.float64),
            np.asarray(hi, dtype=np.float64),
        )

    @cached_property
    def keys(self) -> list[tuple[str, str]]:
        return [(name, c) for name in self.names for c in QUALITY_CHECKS]

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    def position(self, name: str) -> int:
        return self._positions[name]

    def table(self) -> CountTable:
        """An empty features x ``Check`` table."""
        return np.zeros((len(self.names), len(Check)), dtype=np.int64)

    def numeric_issues(self, table: CountTable, x: npt.NDArray[np.float64]) -> BoolArray:
        """Count the numeric checks of ``x`` (rows x numeric features) into ``table``; returns
        the cells that are clean (finite and in range)."""
        nan = np.isnan(x)
        finite = np.isfinite(x)
        inside = x >= self.lo
        inside &= x <= self.hi
        n_nan = nan.sum(axis=0)
        table[self.numeric, Check.MISSING] = n_nan
        table[self.numeric, Check.NON_FINITE] = x.shape[0] - finite.sum(axis=0) - n_nan
        table[self.numeric, Check.OUT_OF_RANGE] = (finite > inside).sum(axis=0)
        clean: BoolArray = finite & inside
        return clean

    def categorical_issues(
        self, table: CountTable, missing: BoolArray, unknown: BoolArray
    ) -> BoolArray:
        """Count missing and unknown categories (categorical features x rows) into ``table``;
        returns the rows with either."""
        table[self.categorical, Check.MISSING] = missing.sum(axis=1)
        table[self.categorical, Check.UNKNOWN_CATEGORY] = unknown.sum(axis=1)
        return np.asarray((missing | unknown).any(axis=0), dtype=bool)

    def coerced_issues(
        self, table: CountTable, coerced: Mapping[str, BoolArray], n: int
    ) -> BoolArray:
        """Count the coerced values (``"5.1"`` for a number) as ``WRONG_TYPE``; returns the rows
        with one."""
        rows = np.zeros(n, dtype=bool)
        for name, mask in coerced.items():
            table[self.position(name), Check.WRONG_TYPE] = mask.sum()
            rows |= mask
        return rows

    def as_dict(self, table: CountTable) -> dict[tuple[str, str], int]:
        """``(feature, check)`` to count."""
        return dict(zip(self.keys, table.ravel().tolist(), strict=True))

    def view(self, table: CountTable) -> Mapping[tuple[str, str], int]:
        """The same mapping as ``as_dict``, built only when first read."""
        return QualityTable(self.keys, table)


__all__ = ["QUALITY_CHECKS", "Check", "QualityKernel", "QualityTable"]
