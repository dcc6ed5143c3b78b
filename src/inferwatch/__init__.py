"""inferwatch: serve or front an ML model and watch every prediction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inferwatch.settings import Settings

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # ``Settings`` is imported on first use: pydantic costs the core (the batch report, the
    # embedded monitor) more time and memory than its own work
    if name == "Settings":
        from inferwatch.settings import Settings

        return Settings
    raise AttributeError(f"module 'inferwatch' has no attribute {name!r}")


__all__ = ["Settings", "__version__"]
