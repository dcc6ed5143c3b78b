"""inferwatch: serve or front an ML model and watch every prediction.

Every public name is imported on first use, so that ``import inferwatch`` (and the command
line) stays light: ``Watcher`` embeds the monitoring in your own application (see
docs/integrations.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inferwatch.integrations.logged import LogRejected
    from inferwatch.integrations.watcher import Watcher
    from inferwatch.settings import Settings

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # ``Settings`` is imported on first use: pydantic costs the core (the batch report, the
    # embedded monitor) more time and memory than its own work
    if name == "Settings":
        from inferwatch.settings import Settings

        return Settings
    if name == "Watcher":
        from inferwatch.integrations.watcher import Watcher

        return Watcher
    if name == "LogRejected":
        from inferwatch.integrations.logged import LogRejected

        return LogRejected
    raise AttributeError(f"module 'inferwatch' has no attribute {name!r}")


__all__ = ["LogRejected", "Settings", "Watcher", "__version__"]
