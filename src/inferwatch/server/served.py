"""``ServedModel``: the model version being served, as one frozen value.

A request reads the service's current ``ServedModel`` once and uses only it: its schema
validates the rows, its backend scores them, its info names the version in the answer and
the stored rows, and the committed rows go to its monitor. A promotion builds a new
``ServedModel`` and replaces the current one in a single assignment, so a request that was
in flight finishes entirely with the version that scored it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from prometheus_client import CollectorRegistry, Counter, Histogram

from inferwatch.backends import ModelBackend
from inferwatch.core.monitor import Monitor, MonitorConfig
from inferwatch.core.schema import FeatureSchema
from inferwatch.exporter import ModelInfo
from inferwatch.modeldir import ModelBundle, ModelMetadata

INFERENCE_ERROR_TYPES: tuple[str, ...] = ("validation", "model", "upstream", "timeout", "store")
INFERENCE_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class InferenceFamilies:
    """The inference metric families, registered once per service; each served version
    takes its own children with ``for_version``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "inferwatch_inference_duration_seconds",
            "Duration of the model call alone (local model or upstream request).",
            ("model", "model_version"),
            buckets=INFERENCE_BUCKETS,
            registry=registry,
        )
        self.rows = Counter(
            "inferwatch_inference_rows",
            "Rows scored by the model.",
            ("model", "model_version"),
            registry=registry,
        )
        self.errors = Counter(
            "inferwatch_inference_errors",
            "Failed inference requests by error type.",
            ("model", "model_version", "error_type"),
            registry=registry,
        )

    def for_version(self, model: str, version: str) -> InferenceMetrics:
        return InferenceMetrics(self, model, version)


class InferenceMetrics:
    """The inference counters of one model version, with the label children built once."""

    def __init__(self, families: InferenceFamilies, model: str, version: str) -> None:
        self._families = families
        self._mv = (model, version)
        self.duration = families.duration.labels(model, version)
        self.rows = families.rows.labels(model, version)
        self.errors = {
            kind: families.errors.labels(model, version, kind) for kind in INFERENCE_ERROR_TYPES
        }

    def error(self, error_type: str) -> None:
        child = self.errors.get(error_type)
        if child is None:
            child = self.errors[error_type] = self._families.errors.labels(*self._mv, error_type)
        child.inc()


@dataclass(frozen=True, eq=False)
class ServedModel:
    """One served model version: everything a request needs about the model.

    ``bundle`` is the model directory it came from (what retraining starts from);
    ``accepts_missing`` says whether the model takes NaN inputs.
    """

    info: ModelInfo
    bundle: ModelBundle
    backend: ModelBackend
    monitor: Monitor
    inference: InferenceMetrics
    accepts_missing: bool = False

    @property
    def metadata(self) -> ModelMetadata:
        return self.bundle.metadata

    @property
    def schema(self) -> FeatureSchema:
        return self.bundle.schema

    @property
    def task(self) -> str:
        return self.bundle.metadata.task

    @classmethod
    def build(
        cls,
        bundle: ModelBundle,
        backend: ModelBackend,
        *,
        stage: str,
        config: MonitorConfig,
        families: InferenceFamilies,
        accepts_missing: bool = False,
    ) -> ServedModel:
        meta = bundle.metadata
        info = ModelInfo(
            meta.name, meta.version, stage, reference_performance=dict(meta.reference_performance)
        )
        monitor = Monitor(
            bundle.schema, bundle.profile, config, model=meta.name, model_version=meta.version
        )
        inference = families.for_version(meta.name, meta.version)
        return cls(info, bundle, backend, monitor, inference, accepts_missing)

    def promoted(
        self, bundle: ModelBundle, backend: ModelBackend, families: InferenceFamilies
    ) -> ServedModel:
        """The served model for ``bundle`` (a promoted version of this one): a fresh monitor
        whose reference is the new profile, the same stage and monitor settings."""
        meta = bundle.metadata
        info = replace(
            self.info,
            model=meta.name,
            model_version=meta.version,
            reference_performance=dict(meta.reference_performance),
        )
        monitor = Monitor(
            bundle.schema,
            bundle.profile,
            self.monitor.config,
            model=meta.name,
            model_version=meta.version,
        )
        inference = families.for_version(meta.name, meta.version)
        return ServedModel(info, bundle, backend, monitor, inference, self.accepts_missing)


__all__ = [
    "INFERENCE_BUCKETS",
    "INFERENCE_ERROR_TYPES",
    "InferenceFamilies",
    "InferenceMetrics",
    "ServedModel",
]
