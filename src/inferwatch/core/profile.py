"""The reference profile: how the training (reference) data and the model's outputs are spread.

Numeric features are cut at reference quantiles (the inverted-CDF definition: the edge for
share ``p`` is the smallest reference value ``v`` with ``F(v) >= p``, so edges are reference
values). Two resolutions share their edges:

- the *drift bins* (``bins``, 10 by default) are the ones exported and used for PSI, JS and the
  Prometheus ``bin`` label: edges at the reference quantiles ``1/bins, 2/bins, ...``;
- the *fine bins* (``bins * resolution``, 100 by default) cut at the quantiles
  ``1/(bins*resolution), ...`` and serve the KS and Wasserstein estimates. Every drift edge is
  also a fine edge, so drift-bin counts are sums of fine-bin counts.

Outer bins are open (``(-inf, e1]`` and ``(ek, +inf)``) so every finite or infinite value lands
in a bin; missing values (NaN, ``None``) land in none. Duplicate quantiles (discrete data) are
merged, so a feature can have fewer bins than asked. Bins are right-closed: ``(a, b]``.

Categorical features (and classifier outputs) have one bin per known category plus ``"other"``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from inferwatch.core.categories import encode_categories
from inferwatch.core.schema import FeatureSchema, SchemaError
from inferwatch.core.snapshot import FeatureKind, Task

PROFILE_FORMAT_VERSION = 1
OTHER = "other"
OUTPUT_NAME = "prediction"

FloatArray = npt.NDArray[np.float64]
IntpArray = npt.NDArray[np.intp]


def _fmt_edges(edges: FloatArray) -> list[str]:
    """Shortest decimal form (4 to 17 significant digits) that keeps all edges distinct."""
    for digits in range(4, 18):
        out = [f"{e:.{digits}g}" for e in edges.tolist()]
        if len(set(out)) == len(out):
            return out
    return [repr(e) for e in edges.tolist()]


def interval_labels(edges: FloatArray) -> tuple[str, ...]:
    """Labels of the bins cut by ``edges``.

    >>> interval_labels(np.array([1.5, 3.0]))
    ('(-inf, 1.5]', '(1.5, 3]', '(3, +inf)')
    """
    if edges.size == 0:
        return ("(-inf, +inf)",)
    s = _fmt_edges(edges)
    labels = [f"(-inf, {s[0]}]"]
    labels += [f"({a}, {b}]" for a, b in itertools.pairwise(s)]
    labels.append(f"({s[-1]}, +inf)")
    return tuple(labels)


@dataclass(frozen=True, eq=False)
class BinnedFeature:
    """Reference distribution of one feature (or of the model output).

    Numeric: ``edges`` are the fine inner edges, ``fine_ratios`` the reference share per fine
    bin, ``centers`` the mean reference value in each fine bin (for Wasserstein), ``starts`` the
    first fine bin of each drift bin. Categorical: fine bins are the drift bins
    (``categories`` + ``"other"``). ``ratios`` are the reference shares of the drift bins.
    """

    name: str
    kind: FeatureKind
    labels: tuple[str, ...]
    ratios: FloatArray
    fine_ratios: FloatArray
    starts: IntpArray
    n: int
    """Reference values (non-missing) the shares were computed from."""
    edges: FloatArray
    centers: FloatArray
    categories: tuple[str, ...] = ()
    mean: float = 0.0
    std: float = 0.0
    iqr: float = 0.0

    @property
    def n_bins(self) -> int:
        return len(self.labels)

    @property
    def n_fine(self) -> int:
        return len(self.fine_ratios)

    @property
    def spread(self) -> float:
        """Scale that normalises Wasserstein: the reference std (IQR/1.349 if the std is 0,
        1 if both are 0)."""
        if self.std > 0:
            return self.std
        if self.iqr > 0:
            return self.iqr / 1.349
        return 1.0

    def fine_index(self, values: np.ndarray) -> IntpArray:
        """Fine bin of each value; -1 for missing."""
        if self.kind == "numeric":
            x = np.asarray(values, dtype=np.float64)
            idx = np.searchsorted(self.edges, x, side="left")
            idx[np.isnan(x)] = -1
            return idx
        return encode_categories(np.asarray(values, dtype=object), self.categories)

    def coarse(self, fine_counts: np.ndarray) -> np.ndarray:
        """Drift-bin counts (or shares) from fine-bin counts."""
        if self.kind == "categorical":
            return fine_counts
        return np.add.reduceat(fine_counts, self.starts)

    def bin_index(self, values: np.ndarray) -> IntpArray:
        """Drift bin of each value; -1 for missing."""
        fine = self.fine_index(values)
        if self.kind == "categorical":
            return fine
        out = np.searchsorted(self.starts, fine, side="right") - 1
        out[fine < 0] = -1
        return out

    # ------------------------------------------------------------------ build
    @classmethod
    def numeric(
        cls, name: str, values: npt.ArrayLike, bins: int = 10, resolution: int = 10
    ) -> BinnedFeature:
        """Profile numeric values (NaN = missing, ignored)."""
        x = np.asarray(values, dtype=np.float64)
        return cls.numeric_sorted(name, np.sort(x[~np.isnan(x)]), bins, resolution)

    @classmethod
    def numeric_sorted(
        cls, name: str, xs: FloatArray, bins: int = 10, resolution: int = 10
    ) -> BinnedFeature:
        """Profile already sorted values without NaN (infinities allowed: they sit in the outer
        bins but do not move the edges, centres or spread)."""
        lo = int(np.searchsorted(xs, -np.inf, side="right"))
        hi = int(np.searchsorted(xs, np.inf, side="left"))
        finite = xs[lo:hi]
        total = bins * resolution
        if finite.size:
            # inverted-CDF quantiles: edge j is the smallest value with F(value) >= j/total,
            # so edges are data values and discrete data gets clean bins
            j = np.arange(1, total, dtype=np.int64)
            q = finite[(j * finite.size + total - 1) // total - 1]
            fine_edges = _distinct(q)
            coarse_edges = _distinct(q[resolution - 1 :: resolution])
        else:
            fine_edges = coarse_edges = np.empty(0)
        fine_of = np.searchsorted(coarse_edges, fine_edges, side="left")
        fine_of = np.append(fine_of, coarse_edges.size)
        starts = np.searchsorted(fine_of, np.arange(coarse_edges.size + 1), side="left")
        bounds = np.concatenate([[0], np.searchsorted(xs, fine_edges, side="right"), [xs.size]])
        counts = np.diff(bounds).astype(np.float64)
        n = int(xs.size)
        fine_ratios = counts / n if n else np.full(counts.size, 1.0 / counts.size)
        fb = np.clip(bounds, lo, hi) - lo
        finite_counts = np.diff(fb)
        centers = _default_centers(fine_edges)
        filled = finite_counts > 0
        if filled.any():  # each filled bin's mean: the sums of its run of sorted values
            sums = np.add.reduceat(finite, fb[:-1][filled])
            centers[filled] = sums / finite_counts[filled]
        q1, q3 = sorted_quantiles(finite, np.array([0.25, 0.75])) if finite.size else (0.0, 0.0)
        mean, std = _mean_std(finite)
        return cls(
            name=name,
            kind="numeric",
            labels=interval_labels(coarse_edges),
            ratios=np.add.reduceat(fine_ratios, starts),
            fine_ratios=fine_ratios,
            starts=starts.astype(np.intp),
            n=n,
            edges=fine_edges,
            centers=centers,
            mean=mean,
            std=std,
            iqr=float(q3 - q1),
        )

    def counts_sorted(self, xs: FloatArray) -> npt.NDArray[np.int64]:
        """Fine-bin counts of sorted values without NaN (numeric features)."""
        cut = np.searchsorted(xs, self.edges, side="right")
        return np.diff(np.concatenate([[0], cut, [xs.size]])).astype(np.int64)

    @classmethod
    def categorical(cls, name: str, values: np.ndarray, categories: Sequence[str]) -> BinnedFeature:
        cats = tuple(categories)
        if OTHER in cats:
            raise SchemaError(name, f"{OTHER!r} is reserved for unknown categories")
        return cls.from_codes(name, encode_categories(np.asarray(values, dtype=object), cats), cats)

    @classmethod
    def from_codes(
        cls, name: str, codes: npt.NDArray[np.intp], categories: Sequence[str]
    ) -> BinnedFeature:
        """``categorical`` from category codes (``encode_categories``: -1 missing, one past
        the last category for unknown values)."""
        codes = codes[codes >= 0]
        return cls.from_counts(name, np.bincount(codes, minlength=len(categories) + 1), categories)

    @classmethod
    def from_counts(
        cls, name: str, counts: npt.ArrayLike, categories: Sequence[str]
    ) -> BinnedFeature:
        """``categorical`` from the count of each category and, last, of the "other" bin."""
        cats = tuple(categories)
        if OTHER in cats:
            raise SchemaError(name, f"{OTHER!r} is reserved for unknown categories")
        counts = np.asarray(counts).astype(np.float64)
        n = int(counts.sum())
        ratios = counts / n if n else np.full(counts.size, 1.0 / counts.size)
        return cls(
            name=name,
            kind="categorical",
            labels=(*cats, OTHER),
            ratios=ratios,
            fine_ratios=ratios,
            starts=np.arange(len(cats) + 1, dtype=np.intp),
            n=n,
            edges=np.empty(0),
            centers=np.empty(0),
            categories=cats,
        )

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "labels": list(self.labels),
            "ratios": self.ratios.tolist(),
            "n": self.n,
        }
        if self.kind == "numeric":
            d |= {
                "edges": self.edges.tolist(),
                "fine_ratios": self.fine_ratios.tolist(),
                "centers": self.centers.tolist(),
                "starts": self.starts.tolist(),
                "mean": self.mean,
                "std": self.std,
                "iqr": self.iqr,
            }
        else:
            d["categories"] = list(self.categories)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BinnedFeature:
        ratios = np.asarray(d["ratios"], dtype=np.float64)
        if d["kind"] == "categorical":
            cats = tuple(str(c) for c in d["categories"])
            return cls(
                name=d["name"],
                kind="categorical",
                labels=tuple(d["labels"]),
                ratios=ratios,
                fine_ratios=ratios,
                starts=np.arange(len(cats) + 1, dtype=np.intp),
                n=int(d["n"]),
                edges=np.empty(0),
                centers=np.empty(0),
                categories=cats,
            )
        return cls(
            name=d["name"],
            kind="numeric",
            labels=tuple(d["labels"]),
            ratios=ratios,
            fine_ratios=np.asarray(d["fine_ratios"], dtype=np.float64),
            starts=np.asarray(d["starts"], dtype=np.intp),
            n=int(d["n"]),
            edges=np.asarray(d["edges"], dtype=np.float64),
            centers=np.asarray(d["centers"], dtype=np.float64),
            mean=float(d["mean"]),
            std=float(d["std"]),
            iqr=float(d["iqr"]),
        )


def sorted_quantiles(xs: FloatArray, probs: FloatArray) -> FloatArray:
    """Quantiles of sorted values by linear interpolation (numpy's default method).

    >>> sorted_quantiles(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 0.5, 1.0])).tolist()
    [1.0, 2.5, 4.0]
    """
    h = (xs.size - 1) * np.asarray(probs, dtype=np.float64)
    below = np.floor(h).astype(np.intp)
    above = np.minimum(below + 1, xs.size - 1)
    t = h - below
    a, b = xs[below], xs[above]
    out: FloatArray = np.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)
    return out


def _distinct(values: FloatArray) -> FloatArray:
    """``np.unique`` of floats done its own way (sort a copy, keep the first of each run of
    equal values: which of ``-0.0`` and ``0.0`` stays is the sort's), without loading
    ``numpy.ma`` as ``np.unique`` does: over a megabyte of a batch report's memory."""
    xs = np.sort(values)
    keep = np.empty(xs.size, dtype=bool)
    keep[:1] = True
    np.not_equal(xs[1:], xs[:-1], out=keep[1:])
    return xs[keep]


def _mean_std(x: FloatArray) -> tuple[float, float]:
    """``(x.mean(), x.std())`` to the bit, as numpy computes them, with one sum fewer (numpy's
    ``std`` sums for the mean again); ``(0.0, 0.0)`` when empty."""
    if not x.size:
        return 0.0, 0.0
    mean = float(x.sum()) / x.size
    dev = x - mean
    np.square(dev, out=dev)
    return mean, math.sqrt(float(dev.sum()) / x.size)


def _default_centers(edges: FloatArray) -> FloatArray:
    """Midpoints of inner bins; the outer bins sit at their finite edge."""
    if edges.size == 0:
        return np.zeros(1)
    mids = (edges[:-1] + edges[1:]) / 2
    return np.concatenate([[edges[0]], mids, [edges[-1]]]).astype(np.float64)


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """Binned reference distributions of every schema feature and of the model output.

    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=1000), "c": rng.choice(["a", "b"], 1000)})
    >>> schema = FeatureSchema.infer(df)
    >>> outputs = rng.choice(["yes", "no"], 1000)
    >>> profile = ReferenceProfile.build(schema, df, outputs, "classification")
    >>> profile.features[0].n_bins, profile.features[1].labels, profile.output.labels
    (10, ('a', 'b', 'other'), ('no', 'yes', 'other'))
    >>> round(float(profile.features[0].ratios.sum()), 6)
    1.0
    >>> ReferenceProfile.from_dict(profile.to_dict()).to_dict() == profile.to_dict()
    True
    """

    task: Task
    features: tuple[BinnedFeature, ...]
    output: BinnedFeature
    classes: tuple[str, ...]
    bins: int = 10
    resolution: int = 10
    rows: int = 0

    def feature(self, name: str) -> BinnedFeature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @classmethod
    def build(
        cls,
        schema: FeatureSchema,
        data: Any,
        outputs: Any,
        task: Task,
        classes: Sequence[Any] | None = None,
        bins: int = 10,
        resolution: int = 10,
    ) -> ReferenceProfile:
        """Profile ``data`` (DataFrame or mapping of columns) and the model ``outputs`` on it
        (predicted classes for classification, predicted values for regression). ``classes``
        defaults to the sorted distinct outputs; classes are compared as strings."""
        if bins < 1 or resolution < 1:
            raise ValueError("bins and resolution must be >= 1")
        batch = schema.columns_from_frame(data)
        feats: list[BinnedFeature] = []
        for spec in schema.features:
            col = batch[spec.name]
            if spec.kind == "numeric":
                feats.append(BinnedFeature.numeric(spec.name, col, bins, resolution))
            else:
                feats.append(BinnedFeature.categorical(spec.name, col, spec.categories))
        out = np.asarray(outputs)
        if task == "classification":
            out_str = np.array([str(v) for v in out.tolist()], dtype=object)
            cls_names = (
                tuple(str(c) for c in classes)
                if classes is not None
                else tuple(sorted(set(out_str.tolist())))
            )
            output = BinnedFeature.categorical(OUTPUT_NAME, out_str, cls_names)
        elif task == "regression":
            cls_names = ()
            output = BinnedFeature.numeric(OUTPUT_NAME, out.astype(np.float64), bins, resolution)
        else:
            raise ValueError(f"unknown task {task!r}")
        rows = len(next(iter(batch.values()))) if batch else len(out)
        return cls(task, tuple(feats), output, cls_names, bins, resolution, rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": PROFILE_FORMAT_VERSION,
            "task": self.task,
            "bins": self.bins,
            "resolution": self.resolution,
            "rows": self.rows,
            "classes": list(self.classes),
            "features": [f.to_dict() for f in self.features],
            "output": self.output.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReferenceProfile:
        version = d.get("format_version")
        if version != PROFILE_FORMAT_VERSION:
            raise SchemaError("format_version", f"unsupported profile format {version!r}")
        return cls(
            task=d["task"],
            features=tuple(BinnedFeature.from_dict(f) for f in d["features"]),
            output=BinnedFeature.from_dict(d["output"]),
            classes=tuple(d["classes"]),
            bins=int(d["bins"]),
            resolution=int(d["resolution"]),
            rows=int(d.get("rows", 0)),
        )


__all__ = [
    "OTHER",
    "OUTPUT_NAME",
    "BinnedFeature",
    "ReferenceProfile",
    "interval_labels",
    "sorted_quantiles",
]
