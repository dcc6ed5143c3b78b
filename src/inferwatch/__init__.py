"""inferwatch: serve or front an ML model and watch every prediction.

``Watcher`` embeds the monitoring in your own application (see docs/integrations.md); it is
imported on first use so that ``import inferwatch`` (and the command line) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inferwatch.settings import Settings

__version__ = "0.1.0"

if TYPE_CHECKING:
    from inferwatch.logged import LogRejected
    from inferwatch.watcher import Watcher


def __getattr__(name: str) -> Any:
    if name == "Watcher":
        from inferwatch.watcher import Watcher

        return Watcher
    if name == "LogRejected":
        from inferwatch.logged import LogRejected

        return LogRejected
    raise AttributeError(f"module 'inferwatch' has no attribute {name!r}")


__all__ = ["LogRejected", "Settings", "Watcher", "__version__"]
