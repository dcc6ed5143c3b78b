"""inferwatch: serve or front an ML model and watch every prediction."""

from __future__ import annotations

from inferwatch.settings import Settings

__version__ = "0.1.0"

__all__ = ["Settings", "__version__"]
