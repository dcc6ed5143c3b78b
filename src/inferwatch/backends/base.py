"""The seam between the HTTP layer and whatever scores the rows.

A backend takes a batch (``Mapping[str, numpy.ndarray]``: one column per feature, as the
core's ``FeatureSchema`` builds it; a pandas DataFrame is accepted too) and answers a
``ModelOutput``. Failures are ``BackendError`` with the HTTP status the service should answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias, runtime_checkable

import numpy as np
import pandas as pd

from inferwatch.modeldir import ModelMetadata

ModelInput: TypeAlias = "Mapping[str, np.ndarray] | pd.DataFrame"
"""Columns by feature name (any order; extra columns are ignored)."""

ErrorType = Literal["model", "upstream", "timeout", "no_model"]

_STATUS: dict[str, int] = {"model": 422, "upstream": 502, "timeout": 504, "no_model": 409}


class BackendError(Exception):
    """The model could not score the rows.

    ``error_type`` is ``"model"`` (the model rejects these rows: 422), ``"upstream"`` (the
    upstream server refused, failed or answered nonsense: 502), ``"timeout"`` (504) or
    ``"no_model"`` (a log-only model directory has nothing to score with: 409).

    >>> err = BackendError("timeout", "no answer from http://m:5000 within 5s")
    >>> err.status_code, str(err)
    (504, 'no answer from http://m:5000 within 5s')
    """

    def __init__(self, error_type: ErrorType, message: str) -> None:
        super().__init__(message)
        self.error_type: ErrorType = error_type
        self.status_code = _STATUS[error_type]
        self.message = message


@dataclass(frozen=True, eq=False)
class ModelOutput:
    """What a model said about a batch.

    ``predictions``: class labels as ``str`` (object array) for classification, float64 for
    regression. ``probabilities``: rows x classes in ``ModelMetadata.classes`` order, or
    ``None`` when the model gives none.
    """

    predictions: np.ndarray
    probabilities: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.predictions)

    @property
    def confidence(self) -> np.ndarray | None:
        """Top-class probability of each row, if there are probabilities."""
        if self.probabilities is None:
            return None
        return np.asarray(self.probabilities.max(axis=1), dtype=np.float64)


@runtime_checkable
class ModelBackend(Protocol):
    """Anything that scores batches for one model."""

    @property
    def metadata(self) -> ModelMetadata: ...

    async def predict(self, frame: ModelInput) -> ModelOutput:
        """Score the rows of ``frame``; raises ``BackendError``."""
        ...

    async def ready(self) -> bool:
        """Whether the model can answer now (a local model: loaded; upstream: pings)."""
        ...

    async def aclose(self) -> None: ...


def batch_rows(frame: ModelInput) -> int:
    if isinstance(frame, pd.DataFrame):
        return len(frame)
    for col in frame.values():
        return len(col)
    return 0


def column(frame: ModelInput, name: str) -> np.ndarray:
    """One input column as a numpy array; ``BackendError`` (422) if it is absent."""
    try:
        col = frame[name]
    except KeyError:
        raise BackendError("model", f"{name}: missing column for the model") from None
    if isinstance(col, pd.Series):
        return col.to_numpy()
    return np.asarray(col)


__all__ = [
    "BackendError",
    "ErrorType",
    "ModelBackend",
    "ModelInput",
    "ModelOutput",
    "batch_rows",
    "column",
]
