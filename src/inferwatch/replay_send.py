"""The replay's sending side: JSON bodies by orjson, and a bounded number of requests in
flight, answered in the order they were sent.

``InFlight.send`` posts a body and hands the answer (or the transport error) to a callback.
With ``size`` 1 that happens before ``send`` returns; with more, up to ``size`` requests run
at once on worker threads and their callbacks run on the caller's thread, oldest first, as
room is needed or at ``drain``: the replay's counts, labels and progress follow the order of
the table whatever order the answers come back in. Nothing is dropped: every request sent
gets its callback, with the answer or with the error.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import orjson

from inferwatch.core import jsonbody

Answer = tuple[httpx.Response | None, str]
"""The response (None when there was none) and, without one, what went wrong."""
Done = Callable[[httpx.Response | None, str], None]


def decode(response: httpx.Response) -> Any:
    """The JSON of an answer; ``ValueError`` when it is not JSON."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise ValueError(str(exc)) from None


class InFlight:
    """At most ``size`` requests at once over ``client`` (which is safe to share between
    threads); answers are handled in the order sent."""

    def __init__(self, client: httpx.Client, headers: Mapping[str, str], size: int = 1) -> None:
        if size < 1:
            raise ValueError(f"requests in flight must be >= 1, got {size}")
        self._client = client
        self._headers = {**headers, "Content-Type": "application/json"}
        self.size = size
        self._pool = ThreadPoolExecutor(size, "inferwatch-replay") if size > 1 else None
        self._waiting: deque[tuple[Future[Answer], Done]] = deque()

    def post(self, path: str, body: Any) -> Answer:
        try:
            return self._client.post(path, content=jsonbody.dumps(body), headers=self._headers), ""
        except httpx.HTTPError as exc:
            return None, f"POST {path}: {type(exc).__name__}: {exc}"

    def send(self, path: str, body: Any, done: Done) -> None:
        """Post ``body`` to ``path``; ``done`` gets the answer (now, or later in order)."""
        if self._pool is None:
            done(*self.post(path, body))
            return
        while len(self._waiting) >= self.size:
            self._finish_one()
        self._waiting.append((self._pool.submit(self.post, path, body), done))

    def _finish_one(self) -> None:
        future, done = self._waiting.popleft()
        done(*future.result())

    def drain(self) -> None:
        """Wait for every request in flight and run their callbacks."""
        while self._waiting:
            self._finish_one()

    @property
    def busy(self) -> bool:
        return bool(self._waiting)

    def close(self) -> None:
        self.drain()
        if self._pool is not None:
            self._pool.shutdown()


__all__ = ["Answer", "InFlight", "decode"]
