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
- a ``Pipeline`` that starts with a ``ColumnTransformer`` has that step replayed on plain
  column arrays by copies of its fitted transformers (same checks, same fallback): pandas
  DataFrame handling costs several milliseconds per call there;
- small batches run inline on the event loop (a thread hop costs more than the model call);
  batches above ``inline_max_rows`` run in a worker thread so the loop stays responsive.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from inferwatch.backends.base import BackendError, ModelInput, ModelOutput, batch_rows, column
from inferwatch.core.schema import FeatureSchema
from inferwatch.lifecycle.modeldir import ModelBundle, ModelMetadata, class_names


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


def _forget_names(est: Any) -> bool:
    """Make a fitted estimator (or a Pipeline's first step) take bare arrays."""
    from sklearn.pipeline import Pipeline

    if isinstance(est, Pipeline):
        steps, final = _split_pipeline(est)
        return _forget_names(steps[0] if steps else final)
    if getattr(est, "feature_names_in_", None) is None:
        return True
    try:
        del est.feature_names_in_
    except AttributeError:
        return False
    return True


def _nameless_copy(model: Any) -> Any | None:
    """A copy of ``model`` that takes a bare float array, or ``None`` if that is not safe."""
    if getattr(model, "feature_names_in_", None) is None:
        return None
    steps, final = _split_pipeline(model)
    first = steps[0] if steps else final
    if _selects_columns_by_name(first):
        return None
    clone = copy.deepcopy(model)
    steps, final = _split_pipeline(clone)
    return clone if _forget_names(steps[0] if steps else final) else None


class _ColumnPlan:
    """A fitted ``ColumnTransformer`` replayed on a list of column arrays (feature order)."""

    def __init__(
        self, parts: list[tuple[Any, list[int], bool]], sparse_output: bool, width: int
    ) -> None:
        self.parts = parts
        self.sparse_output = sparse_output
        self.width = width

    def transform(self, cols: Sequence[np.ndarray]) -> Any:
        from scipy import sparse

        outs: list[Any] = []
        for trans, idx, numeric in self.parts:
            if numeric:
                sub = np.column_stack([cols[i] for i in idx]).astype(np.float64, copy=False)
            else:
                # missing as NaN, as pandas' string columns hold it
                sub = np.empty((len(cols[0]), len(idx)), dtype=object)
                for j, i in enumerate(idx):
                    sub[:, j] = [np.nan if v is None else v for v in cols[i].tolist()]
            outs.append(sub if trans == "passthrough" else trans.transform(sub))
        if self.sparse_output:
            return sparse.hstack(outs).tocsr()
        return np.hstack([o.toarray() if sparse.issparse(o) else o for o in outs])


def _is_identity(trans: Any) -> bool:
    """``"passthrough"``, or the identity ``FunctionTransformer`` sklearn fits in its place."""
    from sklearn.preprocessing import FunctionTransformer

    if isinstance(trans, str):
        return trans == "passthrough"
    return isinstance(trans, FunctionTransformer) and trans.func is None


def _column_indices(spec: Any, names: list[str]) -> list[int] | None:
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, slice):
        return list(range(len(names)))[spec]
    arr = np.asarray(spec)
    if arr.size == 0:
        return []
    if arr.dtype == bool:
        return np.flatnonzero(arr).tolist() if arr.size == len(names) else None
    if arr.dtype.kind in "iu":
        return arr.tolist()  # type: ignore[no-any-return]  # a list of ints
    if all(isinstance(c, str) and c in names for c in arr.tolist()):
        return [names.index(c) for c in arr.tolist()]
    return None


def _column_plan_copy(model: Any, schema: FeatureSchema, names: list[str]) -> Any | None:
    """A copy of a ``Pipeline(ColumnTransformer, ...)`` whose first step is a ``_ColumnPlan``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline):
        return None
    steps, _ = _split_pipeline(model)
    ct = steps[0] if steps else None
    if not isinstance(ct, ColumnTransformer) or ct.transformer_weights is not None:
        return None
    fitted_names = getattr(ct, "feature_names_in_", None)
    if fitted_names is None or [str(n) for n in fitted_names] != names:
        return None
    parts: list[tuple[Any, list[int], bool]] = []
    for _, trans, spec in ct.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        if callable(spec):
            return None
        idx = _column_indices(spec, names)
        if idx is None:
            return None
        if not idx:
            continue
        numeric = all(schema[names[i]].kind == "numeric" for i in idx)
        if _is_identity(trans):
            parts.append(("passthrough", idx, numeric))
            continue
        if isinstance(trans, str):
            return None
        if _selects_columns_by_name(trans):
            return None
        clone = copy.deepcopy(trans)
        if not _forget_names(clone):
            return None
        parts.append((clone, idx, numeric))
    plan = _ColumnPlan(parts, bool(ct.sparse_output_), len(names))
    rest = [(name, copy.deepcopy(est)) for name, est in model.steps[1:]]
    return Pipeline([("columns", plan), *rest])


def _sample_columns(schema: FeatureSchema, names: Sequence[str], n: int = 16) -> list[np.ndarray]:
    """Columns spread over each feature's allowed values (fixed seed): numbers over the
    allowed range, known categories plus an unknown one and a missing one."""
    rng = np.random.default_rng(0)
    cols: list[np.ndarray] = []
    for name in names:
        spec = schema[name]
        if spec.kind == "numeric":
            lo = spec.min if spec.min is not None else -1.0
            hi = spec.max if spec.max is not None else 1.0
            cols.append(rng.uniform(lo, hi, n))
        else:
            pool = [*spec.categories, "\x00unseen"]
            col = np.empty(n, dtype=object)
            col[:] = [pool[i] for i in rng.integers(0, len(pool), n)]
            col[0] = None
            cols.append(col)
    return cols


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


InputMode = Literal["array", "columns", "frame"]


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else type(exc).__name__
    return msg[:limit]


class LocalModelBackend:
    """Scores batches with the estimator of a model directory, in this process."""

    def __init__(self, bundle: ModelBundle, *, inline_max_rows: int = 256) -> None:
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
        self._mode: InputMode = "frame"
        self._fast_scorer = self._scorer
        schema = bundle.schema
        numeric = all(schema[n].kind == "numeric" for n in self._names)
        if not self._wants_frame and numeric:
            self._mode = "array"
        elif numeric:
            self._try_fast("array", _nameless_copy(self._model), schema)
        else:
            self._try_fast("columns", _column_plan_copy(self._model, schema, self._names), schema)

    @property
    def metadata(self) -> ModelMetadata:
        return self._metadata

    @property
    def input_mode(self) -> InputMode:
        """How batches reach the model: a float ``array``, plain ``columns`` replayed through
        the column transformer, or a pandas ``frame`` (the estimator's own input checks)."""
        return self._mode

    def _try_fast(self, mode: InputMode, clone: Any | None, schema: FeatureSchema) -> None:
        """Use ``clone`` for ``mode`` if it answers exactly like the model on sample rows."""
        if clone is None:
            return
        fast = _Scorer(clone, self._classification)
        cols = _sample_columns(schema, self._names)
        try:
            p_fast, pr_fast = fast(self._shape(mode, cols))
            p_slow, pr_slow = self._scorer(self._shape("frame", cols))
        except Exception:  # the model does not score synthetic rows: keep the plain path
            return
        same = np.array_equal(p_fast, p_slow) and (
            (pr_fast is None and pr_slow is None)
            or (pr_fast is not None and pr_slow is not None and np.array_equal(pr_fast, pr_slow))
        )
        if same:
            self._mode, self._fast_scorer = mode, fast

    def _shape(self, mode: InputMode, cols: list[np.ndarray]) -> Any:
        if mode == "columns":
            return cols
        if mode == "array":
            try:
                return np.column_stack(cols).astype(np.float64, copy=False)
            except (TypeError, ValueError) as exc:
                raise BackendError("model", f"non-numeric input: {_first_line(exc)}") from exc
        ordered = pd.DataFrame(dict(zip(self._names, cols, strict=True)), copy=False)
        return ordered if self._wants_frame else ordered.to_numpy()

    def _input(self, frame: ModelInput) -> tuple[_Scorer, Any]:
        if self._mode == "frame" and isinstance(frame, pd.DataFrame):
            ordered = frame if list(frame.columns) == self._names else frame[self._names]
            return self._scorer, ordered if self._wants_frame else ordered.to_numpy()
        cols = [column(frame, n) for n in self._names]
        return self._fast_scorer, self._shape(self._mode, cols)

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
