"""Row generators for the traffic simulator: pure functions of the example data and an
injected ``numpy.random.Generator``; no I/O and no clock.

Every generated row comes from a real row of the example data, so its true label is known
and the simulator can send it back later as delayed ground truth. Drift moves the inputs
and keeps that label; an accuracy drop keeps the inputs and sends labels that disagree with
the model (concept drift).

>>> import pandas as pd
>>> data = ExampleData.from_frame(
...     pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "colour": ["red", "red", "red", "blue"]}),
...     pd.Series([0, 0, 1, 1]),
... )
>>> batch = sample_rows(data, 3, np.random.default_rng(0))
>>> len(batch.rows), sorted(batch.rows[0])
(3, ['colour', 'x'])
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

DriftMode = Literal["gradual", "abrupt"]
ERROR_KINDS: tuple[str, ...] = (
    "malformed_json",
    "wrong_type",
    "missing_field",
    "nan",
    "unknown_category",
)
"""Kinds of bad request the ``errors`` scenario sends."""


def _json_value(value: Any) -> Any:
    """A numpy/pandas scalar as the plain Python value ``json`` writes."""
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class ExampleData:
    """The example's features and target, split into numeric and categorical columns."""

    features: pd.DataFrame
    target: pd.Series
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    std: dict[str, float]
    """Reference standard deviation per numeric feature (1.0 where it is zero)."""
    categories: dict[str, tuple[str, ...]]
    """Categories per categorical feature, most frequent first."""
    classes: tuple[Any, ...]

    @classmethod
    def from_frame(cls, features: pd.DataFrame, target: pd.Series) -> ExampleData:
        """Split ``features`` by dtype: numbers (not bool) are numeric, the rest categorical."""
        features = features.reset_index(drop=True)
        target = target.reset_index(drop=True)
        numeric = tuple(
            str(c)
            for c in features.columns
            if pd.api.types.is_numeric_dtype(features[c])
            and not pd.api.types.is_bool_dtype(features[c])
        )
        categorical = tuple(str(c) for c in features.columns if str(c) not in numeric)
        std = {}
        for name in numeric:
            s = float(np.nanstd(features[name].to_numpy(dtype=np.float64)))
            std[name] = s if s > 0 and math.isfinite(s) else 1.0
        categories = {
            name: tuple(str(v) for v in features[name].dropna().astype(str).value_counts().index)
            for name in categorical
        }
        classes = tuple(_json_value(v) for v in sorted(pd.unique(target).tolist(), key=str))
        return cls(features, target, numeric, categorical, std, categories, classes)

    def check_features(self, names: Sequence[str]) -> None:
        """Raise ``ValueError`` naming any feature that the example does not have."""
        unknown = [n for n in names if n not in self.features.columns]
        if unknown:
            known = ", ".join(str(c) for c in self.features.columns)
            raise ValueError(f"unknown feature(s) {', '.join(unknown)}; known: {known}")


@dataclass(frozen=True)
class Batch:
    """Rows ready to be sent as JSON, with the true label of each row."""

    rows: list[dict[str, Any]]
    labels: list[Any]


def sample_rows(data: ExampleData, n: int, rng: np.random.Generator, noise: float = 0.05) -> Batch:
    """``n`` rows drawn with replacement from the example, numeric values jittered by
    ``noise`` reference standard deviations so that no two requests are identical."""
    idx = rng.integers(0, len(data.features), size=n)
    frame = data.features.iloc[idx]
    columns: dict[str, list[Any]] = {}
    for name in data.numeric:
        values = frame[name].to_numpy(dtype=np.float64)
        values = values + rng.normal(0.0, noise * data.std[name], size=n)
        columns[name] = [round(float(v), 6) for v in values]
    for name in data.categorical:
        columns[name] = [None if pd.isna(v) else str(v) for v in frame[name]]
    names = [str(c) for c in data.features.columns]
    rows = [{name: columns[name][i] for name in names} for i in range(n)]
    labels = [_json_value(v) for v in data.target.iloc[idx]]
    return Batch(rows, labels)


def drift_strength(mode: DriftMode, elapsed: float, duration: float) -> float:
    """How much of the drift applies ``elapsed`` seconds into a phase of ``duration``:
    abrupt drift is whole at once; gradual drift ramps up over the first half of the phase.

    >>> drift_strength("abrupt", 0.0, 60.0), drift_strength("gradual", 15.0, 60.0)
    (1.0, 0.5)
    """
    if mode == "abrupt":
        return 1.0
    if mode != "gradual":
        raise ValueError(f"drift mode must be gradual or abrupt, not {mode!r}")
    ramp = duration / 2.0
    return 1.0 if ramp <= 0 else min(1.0, max(0.0, elapsed / ramp))


def drift_rows(
    data: ExampleData,
    batch: Batch,
    features: Sequence[str],
    shift_sd: float,
    strength: float,
    rng: np.random.Generator,
) -> Batch:
    """Shift only ``features``: numeric ones by ``shift_sd * strength`` reference standard
    deviations; categorical ones get a new mix, each value replaced with probability
    ``strength * 0.8`` by the category that is rarest in the reference. Labels are kept."""
    data.check_features(features)
    rows = [dict(r) for r in batch.rows]
    for name in features:
        if name in data.numeric:
            delta = shift_sd * strength * data.std[name]
            for row in rows:
                if isinstance(row[name], float):
                    row[name] = round(row[name] + delta, 6)
        elif data.categories.get(name):
            rarest = data.categories[name][-1]
            replace = rng.random(len(rows)) < 0.8 * strength
            for row, flip in zip(rows, replace, strict=True):
                if flip:
                    row[name] = rarest
    return Batch(rows, list(batch.labels))


def feedback_labels(
    true_labels: Sequence[Any],
    predictions: Sequence[Any],
    flip_rate: float,
    classes: Sequence[Any],
    rng: np.random.Generator,
) -> list[Any]:
    """The ground truth to report: the true label, except that a ``flip_rate`` share of rows
    get a class that disagrees with the model's prediction (concept drift: the inputs look
    the same, the right answer changed). Predictions are compared as strings, since a
    service may answer class names where the data holds numbers."""
    if not 0.0 <= flip_rate <= 1.0:
        raise ValueError("flip rate must be between 0 and 1")
    flips = rng.random(len(true_labels)) < flip_rate
    out: list[Any] = []
    for label, predicted, flip in zip(true_labels, predictions, flips, strict=True):
        if flip:
            others = [c for c in classes if str(c) != str(predicted)]
            if others:
                out.append(others[int(rng.integers(0, len(others)))])
                continue
        out.append(label)
    return out


@dataclass(frozen=True)
class BadRequest:
    """A request body the service must refuse (or count as a data-quality issue)."""

    kind: str
    body: bytes


def bad_request(data: ExampleData, rng: np.random.Generator, kind: str | None = None) -> BadRequest:
    """One malformed request of ``kind`` (one of ``ERROR_KINDS``; random when ``None``),
    built from a real row so that only the named defect is wrong."""
    if kind is None:
        kinds = [k for k in ERROR_KINDS if k != "unknown_category" or data.categorical]
        kind = kinds[int(rng.integers(0, len(kinds)))]
    row: dict[str, Any] = sample_rows(data, 1, rng, noise=0.0).rows[0]
    numeric = data.numeric[int(rng.integers(0, len(data.numeric)))] if data.numeric else None
    if kind == "malformed_json":
        text = json.dumps(row)
        return BadRequest(kind, text[: max(1, len(text) // 2)].encode())
    if kind == "wrong_type" and numeric is not None:
        row[numeric] = "not-a-number"
    elif kind == "missing_field":
        del row[str(data.features.columns[int(rng.integers(0, data.features.shape[1]))])]
    elif kind == "nan" and numeric is not None:
        row[numeric] = float("nan")
    elif kind == "unknown_category" and data.categorical:
        row[data.categorical[int(rng.integers(0, len(data.categorical)))]] = "never-seen"
    elif kind not in ERROR_KINDS:
        raise ValueError(f"error kind must be one of {', '.join(ERROR_KINDS)}, not {kind!r}")
    # NaN is written as the bare token NaN, which many JSON parsers accept: a non-finite value.
    return BadRequest(kind, json.dumps(row).encode())


__all__ = [
    "ERROR_KINDS",
    "BadRequest",
    "Batch",
    "DriftMode",
    "ExampleData",
    "bad_request",
    "drift_rows",
    "drift_strength",
    "feedback_labels",
    "sample_rows",
]
