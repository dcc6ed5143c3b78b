"""Score with a fitted scikit-learn (or compatible) estimator loaded in this process.

The hot path is a single request of one or a few rows, where scikit-learn's input checks
cost more than the arithmetic. Three things keep it cheap, each giving exactly what the
estimator itself answers:

- a ``Pipeline`` is run step by step, so its transformers run once for both ``predict`` and
  ``predict_proba`` (``Pipeline.predict`` would run them twice);
- a model fitted on an all-numeric DataFrame without name-based column selection gets a
  float array: a private copy forgets the column names (the backend already orders the
  columns by ``ModelMetadata.feature_names``). This skips pandas validation, about 1 ms per
  call. The copy is checked against the original on sample rows first and not used if they
  differ in any way;
- small batches run inline on the event loop (a thread hop costs more than the model call);
  batches above ``inline_max_rows`` run in a worker thread so the loop stays responsive.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from inferwatch.backends.base import BackendError, ModelInput, ModelOutput, batch_rows, column
from inferwatch.core.schema import FeatureSchema
from inferwatch.modeldir import ModelBundle, ModelMetadata, class_names


def _split_pipeline(model: Any) -> tuple[list[Any], Any]:
    """The transformers and the final estimator of a Pipeline; ``([], model)`` otherwise."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        final = model.steps[-1][1]
        if final is not None and final != "passthrough":
            steps = [est for _, est in model.steps[:-1] if est is not None and est != "passthrough"]
            return steps, final
    return [], model


def _selects_columns_by_name(est: Any) -> bool:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer

    if isinstance(est, Pipeline):
        return any(_selects_columns_by_name(s) for _, s in est.steps)
    return isinstance(est, (ColumnTransformer, FeatureUnion, FunctionTransformer))


def _nameless_copy(model: Any) -> Any | None:
    """A copy of ``model`` that takes a bare float array, or ``None`` if that is not safe."""
    if getattr(model, "feature_names_in_", None) is None:
        return None
    steps, final = _split_pipeline(model)
    first = steps[0] if steps else final
    if _selects_columns_by_name(first) or not hasattr(first, "feature_names_in_"):
        return None
    clone = copy.deepcopy(model)
    steps, final = _split_pipeline(clone)
    first = steps[0] if steps else final
    try:
        del first.feature_names_in_
    except AttributeError:
        return None
    return clone


def _sample_rows(schema: FeatureSchema, names: Sequence[str], n: int = 16) -> np.ndarray:
    """Rows spread over the allowed range of each numeric feature (fixed seed)."""
    rng = np.random.default_rng(0)
    cols = []
    for name in names:
        spec = schema[name]
        lo = spec.min if spec.min is not None else -1.0
        hi = spec.max if spec.max is not None else 1.0
        cols.append(rng.uniform(lo, hi, n))
    return np.column_stack(cols).astype(np.float64)


class _Scorer:
    """``predict`` (+ ``predict_proba``) of one model, transformers run once."""

    def __init__(self, model: Any, classification: bool) -> None:
        self.steps, self.final = _split_pipeline(model)
        self.classification = classification
        self.with_proba = classification and hasattr(self.final, "predict_proba")

    def __call__(self, x: Any) -> tuple[np.ndarray, np.ndarray | None]:
        for step in self.steps:
            x = step.transform(x)
        predictions = np.asarray(self.final.predict(x))
        proba = (
            np.asarray(self.final.predict_proba(x), dtype=np.float64) if self.with_proba else None
        )
        return predictions, proba


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else type(exc).__name__
    return msg[:limit]


class LocalModelBackend:
    """Scores batches with the estimator of a model directory, in this process."""

    def __init__(self, bundle: ModelBundle, *, inline_max_rows: int = 64) -> None:
        if bundle.model is None:
            raise ValueError(f"model {bundle.metadata.name!r} has no model file to load")
        meta = bundle.metadata
        self._metadata = meta
        self._model = bundle.model
        self._names = list(meta.feature_names)
        self._classification = meta.task == "classification"
        self.inline_max_rows = inline_max_rows
        if self._classification:
            if not hasattr(self._model, "classes_"):
                raise ValueError(f"model {meta.name!r} is a classifier without classes_")
            actual = class_names(self._model)
            if meta.classes is not None and actual != list(meta.classes):
                raise ValueError(
                    f"the model's classes {actual} differ from metadata.json's {meta.classes}"
                )
        self._wants_frame = getattr(self._model, "feature_names_in_", None) is not None
        self._scorer = _Scorer(self._model, self._classification)
        self._array_scorer: _Scorer | None = None
        numeric = all(bundle.schema[n].kind == "numeric" for n in self._names)
        if not self._wants_frame and numeric:
            self._array_scorer = self._scorer
        elif numeric:
            self._array_scorer = self._checked_nameless(bundle.schema)

    @property
    def metadata(self) -> ModelMetadata:
        return self._metadata

    @property
    def fast_path(self) -> bool:
        """Whether batches reach the model as a bare float array."""
        return self._array_scorer is not None

    def _checked_nameless(self, schema: FeatureSchema) -> _Scorer | None:
        clone = _nameless_copy(self._model)
        if clone is None:
            return None
        fast = _Scorer(clone, self._classification)
        rows = _sample_rows(schema, self._names)
        try:
            p_fast, pr_fast = fast(rows)
            p_slow, pr_slow = self._scorer(pd.DataFrame(rows, columns=self._names))
        except Exception:  # the model does not score synthetic rows: keep the plain path
            return None
        same = np.array_equal(p_fast, p_slow) and (
            (pr_fast is None and pr_slow is None)
            or (pr_fast is not None and pr_slow is not None and np.array_equal(pr_fast, pr_slow))
        )
        return fast if same else None

    def _input(self, frame: ModelInput) -> tuple[_Scorer, Any]:
        if self._array_scorer is not None:
            cols = [column(frame, n) for n in self._names]
            try:
                x = np.column_stack(cols).astype(np.float64, copy=False)
            except (TypeError, ValueError) as exc:
                raise BackendError("model", f"non-numeric input: {_first_line(exc)}") from exc
            return self._array_scorer, x
        if isinstance(frame, pd.DataFrame):
            ordered = frame if list(frame.columns) == self._names else frame[self._names]
        else:
            ordered = pd.DataFrame({n: column(frame, n) for n in self._names}, copy=False)
        return self._scorer, ordered if self._wants_frame else ordered.to_numpy()

    def _score(self, frame: ModelInput) -> ModelOutput:
        scorer, x = self._input(frame)
        try:
            predictions, proba = scorer(x)
        except Exception as exc:  # any estimator failure means these rows cannot be scored
            raise BackendError(
                "model", f"the model cannot score these rows: {_first_line(exc)}"
            ) from exc
        if self._classification:
            labels = np.empty(len(predictions), dtype=object)
            labels[:] = [str(v) for v in predictions.tolist()]
            return ModelOutput(labels, proba)
        values = predictions.astype(np.float64, copy=False)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        return ModelOutput(values, None)

    def predict_sync(self, frame: ModelInput) -> ModelOutput:
        """Score ``frame`` in the calling thread."""
        return self._score(frame)

    async def predict(self, frame: ModelInput) -> ModelOutput:
        if batch_rows(frame) <= self.inline_max_rows:
            return self._score(frame)
        return await asyncio.to_thread(self._score, frame)

    async def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


__all__ = ["LocalModelBackend"]
