"""Model backends: what scores the rows (a local estimator or an upstream model server)."""

from __future__ import annotations

from inferwatch.backends.base import BackendError, ErrorType, ModelBackend, ModelInput, ModelOutput
from inferwatch.backends.local import LocalModelBackend
from inferwatch.backends.nomodel import NoModelBackend
from inferwatch.backends.oip import OipModelBackend
from inferwatch.backends.upstream import UpstreamModelBackend
from inferwatch.lifecycle.modeldir import MODEL_FILE, ModelBundle, ModelDirError, load_model_dir
from inferwatch.settings import Settings


def backend_from_settings(settings: Settings, bundle: ModelBundle | None = None) -> ModelBackend:
    """The backend ``settings`` ask for: the upstream server at ``upstream_url`` (speaking
    ``upstream_protocol``) if set, else
    the estimator in ``model_dir``. Pass the already loaded ``bundle`` to avoid reading the
    directory twice."""
    if settings.upstream_url:
        if bundle is None:
            bundle = load_model_dir(settings.model_dir, load_model=False)
        if settings.upstream_protocol == "v2":
            return OipModelBackend(
                settings.upstream_url,
                bundle.metadata,
                settings.upstream_timeout_seconds,
                model_name=settings.upstream_model_name,
                categorical=[f.name for f in bundle.schema.categorical],
                max_answer_bytes=settings.upstream_max_answer_bytes,
                token=settings.resolved_upstream_token(),
            )
        return UpstreamModelBackend(
            settings.upstream_url,
            bundle.metadata,
            settings.upstream_timeout_seconds,
            max_answer_bytes=settings.upstream_max_answer_bytes,
            token=settings.resolved_upstream_token(),
        )
    if bundle is None:
        bundle = load_model_dir(settings.model_dir)
    if bundle.model is None and bundle.metadata.log_only:
        return NoModelBackend(bundle.metadata)
    if bundle.model is None:
        raise ModelDirError(
            settings.model_dir / MODEL_FILE,
            "missing (set INFERWATCH_UPSTREAM_URL to score with an upstream model server)",
        )
    return LocalModelBackend(bundle)


__all__ = [
    "BackendError",
    "ErrorType",
    "LocalModelBackend",
    "ModelBackend",
    "ModelInput",
    "ModelOutput",
    "NoModelBackend",
    "OipModelBackend",
    "UpstreamModelBackend",
    "backend_from_settings",
]
