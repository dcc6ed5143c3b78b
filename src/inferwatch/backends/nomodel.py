"""The backend of a log-only model directory (``inferwatch init --no-model``).

Predictions are made elsewhere and logged (``POST /log``); asking this service to score rows
answers 409 saying so.
"""

from __future__ import annotations

from inferwatch.backends.base import BackendError, ModelInput, ModelOutput
from inferwatch.modeldir import ModelMetadata


class NoModelBackend:
    """Refuses to score: the model directory holds no model, only what watching needs."""

    def __init__(self, metadata: ModelMetadata) -> None:
        self._metadata = metadata

    @property
    def metadata(self) -> ModelMetadata:
        return self._metadata

    async def predict(self, frame: ModelInput) -> ModelOutput:
        raise BackendError(
            "no_model",
            f"model {self._metadata.name!r} is watched in log mode: its directory holds no "
            "model to score with; send the predictions your own server made to POST /log",
        )

    async def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


__all__ = ["NoModelBackend"]
