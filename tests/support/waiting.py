"""Bounded waits and free ports for tests that run real servers on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 15.0,
    what: str = "condition",
    *,
    interval: float = 0.05,
) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout``
    seconds, naming ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not met within {timeout}s (last value: {last!r})")


__all__ = ["free_port", "wait_until"]
