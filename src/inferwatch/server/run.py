"""Run the service under uvicorn: one worker, uvloop and httptools when installed."""

from __future__ import annotations

import importlib.util
import logging
import sys

from inferwatch.server.security import InsecureBindError, check_bind
from inferwatch.settings import Settings
from inferwatch.store import StoreError


def uvicorn_options(settings: Settings, *, access_log: bool = False) -> dict[str, object]:
    """The uvicorn settings the service runs with (the bench uses the same for its baseline)."""
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    has_httptools = importlib.util.find_spec("httptools") is not None
    return {
        "host": settings.host,
        "port": settings.port,
        "workers": 1,
        "loop": "uvloop" if has_uvloop else "asyncio",
        "http": "httptools" if has_httptools else "h11",
        "access_log": access_log,
        "log_level": settings.log_level.lower(),
        "lifespan": "on",
        # Requests wait for the group commit, so keep-alive connections are the norm.
        "timeout_keep_alive": 30,
    }


def run_server(settings: Settings, *, access_log: bool = False) -> int:
    """Build the app and serve until interrupted; returns the process exit code."""
    try:
        check_bind(settings)
    except InsecureBindError as exc:
        print(f"inferwatch serve: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from inferwatch.server.app import create_app

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    if settings.workers > 1:
        return _run_workers(settings, access_log=access_log)
    try:
        app = create_app(settings)
    except StoreError as exc:  # a full or read-only disk: one line, not a traceback
        print(f"inferwatch serve: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"inferwatch serve: cannot prepare {settings.data_dir}: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, **uvicorn_options(settings, access_log=access_log))  # type: ignore[arg-type]  # options are typed per key by uvicorn
    return 0


def _run_workers(settings: Settings, *, access_log: bool) -> int:
    """``settings.workers`` processes on one port (uvicorn's supervisor), with
    prometheus_client's multiprocess mode for metrics that add up across them."""
    import uvicorn

    from inferwatch.server import workers

    workers.prepare_directory()
    workers.export_settings(settings)
    options = uvicorn_options(settings, access_log=access_log)
    options["workers"] = settings.workers
    uvicorn.run("inferwatch.server.workers:app_from_env", factory=True, **options)  # type: ignore[arg-type]  # options are typed per key by uvicorn
    return 0


__all__ = ["run_server", "uvicorn_options"]
