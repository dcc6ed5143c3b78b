"""``Watcher``: inferwatch inside your own application, without the HTTP service.

Your app serves the model; the watcher keeps what the service would keep: every logged
prediction durable in the prediction store, drift, data quality and accuracy in a monitor,
and the same Prometheus families (``inferwatch_*``) through a collector you register in your
own ``prometheus_client`` registry::

    watcher = Watcher.from_model_dir("models/iris", store_url="sqlite:///data/iris.db")
    registry.register(watcher.collector())
    ids = watcher.log(rows, predictions, probabilities)     # after your model answered
    watcher.feedback(ids, labels)                           # when the truth is known
    watcher.log(rows, predictions, labels=labels)           # a backtest: truth known already

Every call is synchronous and thread-safe; ``log`` returns once the rows are committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client.registry import Collector

from inferwatch.core.monitor import Monitor, MonitorConfig
from inferwatch.core.schema import Batch, SchemaError
from inferwatch.core.snapshot import MonitorSnapshot
from inferwatch.exporter import ModelInfo, MonitorCollector, ServiceTotals
from inferwatch.integrations.logged import (
    LogRejected,
    check_ids,
    check_label,
    check_labels,
    check_outputs,
)
from inferwatch.lifecycle.modeldir import ModelBundle, load_model_dir
from inferwatch.settings import Settings
from inferwatch.store import (
    LabelItem,
    LabelledRowsStored,
    PredictionBatch,
    PredictionStore,
    new_ids,
    open_store,
)
from inferwatch.store.url import sqlite_url


def store_url_of(store: str | Path) -> str:
    """A store URL (``sqlite:///file.db``, ``postgresql://...``); a plain path is a SQLite
    file."""
    text = str(store)
    return text if "://" in text else sqlite_url(Path(text))


class Watcher:
    """Watch one model whose predictions are made by your own code."""

    def __init__(
        self,
        bundle: ModelBundle,
        store: PredictionStore,
        *,
        settings: Settings | None = None,
        stage: str = "production",
        clock: Callable[[], float] = time.time,
    ) -> None:
        meta = bundle.metadata
        settings = settings or Settings()
        config = MonitorConfig.from_settings(settings, per_feature_thresholds=dict(meta.thresholds))
        self.bundle = bundle
        self.metadata = meta
        self.store = store
        self.clock = clock
        self.monitor = Monitor(
            bundle.schema, bundle.profile, config, model=meta.name, model_version=meta.version
        )
        self.info = ModelInfo(
            meta.name, meta.version, stage, reference_performance=dict(meta.reference_performance)
        )
        self.totals = ServiceTotals()
        self._lock = threading.Lock()

    @classmethod
    def from_model_dir(
        cls,
        path: str | Path,
        store_url: str | Path | None = None,
        *,
        settings: Settings | None = None,
    ) -> Watcher:
        """A watcher for the model directory at ``path`` (the model file is not needed: only
        schema, profile and metadata), storing into ``store_url`` (``sqlite:///file.db``,
        ``postgresql://...`` or a path; default: the store ``settings`` name)."""
        settings = settings or Settings()
        bundle = load_model_dir(Path(path), load_model=False)
        url = store_url_of(store_url) if store_url is not None else settings.resolved_store_url()
        store = open_store(url, password_file=settings.store_password_file)
        return cls(bundle, store, settings=settings)

    # --- what the exporter reads

    def snapshot(self) -> MonitorSnapshot:
        return self.monitor.snapshot(self.clock())

    def model_info(self) -> ModelInfo:
        return self.info

    def collector(self) -> Collector:
        """The ``inferwatch_*`` families of this model, for ``registry.register(...)``."""
        return MonitorCollector(self)

    # --- writing

    def _batch(self, rows: Any) -> Batch | dict[str, np.ndarray]:
        schema = self.bundle.schema
        if isinstance(rows, (list, tuple)):
            return schema.columns_from_records(list(rows))
        if isinstance(rows, Mapping) or hasattr(rows, "columns"):
            return schema.columns_from_frame(rows)
        raise LogRejected("rows", "expected a list of objects, a mapping of columns or a DataFrame")

    def log(
        self,
        rows: Any,
        predictions: Sequence[Any] | np.ndarray,
        probabilities: Any = None,
        ids: Sequence[str] | None = None,
        labels: Any = None,
    ) -> list[str]:
        """Store and watch predictions your model made for ``rows``; returns their ids (yours
        if given, new ones otherwise). Raises ``LogRejected`` (a ``ValueError``) naming the
        field for unusable input; nothing is stored then. An id already stored keeps its
        first prediction.

        ``labels``: the ground truth of the rows when it is known already (a backtest), one
        per row (``None``, or NaN in an array or Series, for a row without one). They are
        checked as ``feedback`` checks them, stored with the rows in their transaction and
        counted as matched feedback. Labelled rows must be new: an id stored before is
        refused (``LogRejected`` naming ``ids``), since its label would describe a
        prediction this call did not make."""
        try:
            batch = self._batch(rows)
        except SchemaError as exc:
            raise LogRejected(exc.field, exc.message) from None
        columns = batch.columns if isinstance(batch, Batch) else batch
        n = len(next(iter(columns.values()))) if columns else 0
        preds, probs = check_outputs(self.metadata, n, predictions, probabilities)
        chosen = check_ids(None if ids is None else list(ids), n) or new_ids(n)
        meta = self.metadata
        truth = None if labels is None else check_labels(labels, n, meta.task, meta.classes)
        now = self.clock()
        record = PredictionBatch(
            chosen,
            now,
            self.info.model,
            self.info.model_version,
            columns,
            preds,
            probs,
            labels=truth,
        )
        with self._lock:
            try:
                self.store.write([record], [], now)
            except LabelledRowsStored as exc:
                raise LogRejected("ids", str(exc)) from None
        self.monitor.observe(batch, preds, probs, now)
        made, given = record.labelled_rows()
        if given:
            kind = np.float64 if meta.task == "regression" else object
            actual = np.asarray(given, dtype=kind)
            self.monitor.record_outcomes(np.asarray(made, dtype=kind), actual, now)
            self.totals.add_feedback({"matched": len(given)})
        return chosen

    def feedback(self, ids: Sequence[str], labels: Sequence[Any]) -> list[str]:
        """Record ground truth for earlier predictions; one outcome per label, in order:
        ``matched``, ``unknown_id``, ``duplicate``, or ``invalid`` (not one of the model's
        classes, or not a finite number for a regressor: judged as ``/feedback`` judges it,
        and not stored)."""
        if len(ids) != len(labels):
            raise LogRejected("labels", f"{len(labels)} labels for {len(ids)} ids")
        meta = self.metadata
        regression = meta.task == "regression"
        now = self.clock()
        items: list[LabelItem] = []
        kinds: list[str | None] = []  # None: the outcome of the next stored item
        for i, (pid, lab) in enumerate(zip(ids, labels, strict=True)):
            value, _ = check_label(lab, f"labels[{i}]", meta.task, meta.classes)
            if value is None:
                kinds.append("invalid")
                continue
            kinds.append(None)
            items.append(LabelItem(str(pid), value, now))
        with self._lock:
            outcomes = self.store.write([], items, now) if items else []
        stored = iter(outcomes)
        result = [kind if kind is not None else next(stored).outcome for kind in kinds]
        counts: dict[str, int] = {}
        matched = [o for o in outcomes if o.outcome == "matched"]
        for outcome in result:
            counts[outcome] = counts.get(outcome, 0) + 1
        self.totals.add_feedback(counts)
        if matched:
            kind = np.float64 if regression else object
            predicted = np.asarray([o.prediction for o in matched], dtype=kind)
            actual = np.asarray([o.label for o in matched], dtype=kind)
            self.monitor.record_outcomes(predicted, actual, now)
        return result

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Watcher", "store_url_of"]
