"""A small model server that speaks the MLflow scoring protocol, for tests.

``UpstreamServer(model)`` serves a fitted estimator on 127.0.0.1 with uvicorn in a thread:

- ``POST /invocations`` takes ``dataframe_split``, ``dataframe_records``, ``instances`` or
  ``inputs`` and answers ``{"predictions": [...]}``; ``output`` picks the items: class labels
  (``"labels"``), probability lists (``"probabilities"``) or objects with both
  (``"records"``). Unusable input or a model error answers 400 like MLflow does.
- ``GET /ping`` answers 200.

``delay`` (seconds before answering) and ``fail_status`` (answer this status instead) can be
changed while it runs. ``stop()`` and ``start()`` again reuse the same port, so a client sees
the upstream go down and come back.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any, Literal

import numpy as np
import pandas as pd
import uvicorn

Output = Literal["labels", "probabilities", "records"]


def _frame(body: Any, columns: list[str] | None) -> pd.DataFrame:
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        return pd.DataFrame(split["data"], columns=split["columns"])
    if "dataframe_records" in body:
        return pd.DataFrame(body["dataframe_records"])
    for key in ("instances", "inputs"):
        if key in body:
            value = body[key]
            if isinstance(value, dict):  # columns: {"col": [values]}
                return pd.DataFrame(value)
            if value and isinstance(value[0], dict):
                return pd.DataFrame(value)
            return pd.DataFrame(value, columns=columns)
    raise ValueError("expected dataframe_split, dataframe_records, instances or inputs")


class _App:
    """The ASGI application (plain ASGI, no framework)."""

    def __init__(self, owner: UpstreamServer) -> None:
        self.owner = owner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path in ("/ping", "/health") and method == "GET":
            await self._send(send, 200, "\n", "text/plain")
            return
        if path != "/invocations" or method != "POST":
            await self._send(send, 404, json.dumps({"message": "not found"}))
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        owner = self.owner
        owner.requests += 1
        if owner.delay:  # answer late, but not after the server was asked to stop
            loop = asyncio.get_running_loop()
            deadline = loop.time() + owner.delay
            while loop.time() < deadline and not owner.stopping:
                await asyncio.sleep(0.01)
        if owner.fail_status is not None:
            body = {"error_code": "INTERNAL_ERROR", "message": "injected failure"}
            await self._send(send, owner.fail_status, json.dumps(body))
            return
        status, answer = owner.score(b"".join(chunks))
        await self._send(send, status, json.dumps(answer))

    @staticmethod
    async def _send(send: Any, status: int, body: str, ctype: str = "application/json") -> None:
        data = body.encode()
        headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})


class UpstreamServer:
    """An MLflow-protocol server for ``model`` on 127.0.0.1 (a free port unless ``port``)."""

    def __init__(self, model: Any, *, output: Output = "labels", port: int = 0) -> None:
        self.model = model
        self.output: Output = output
        self.port = port
        self.delay = 0.0
        self.fail_status: int | None = None
        self.requests = 0
        self.stopping = False
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- scoring

    def score(self, raw: bytes) -> tuple[int, Any]:
        names = getattr(self.model, "feature_names_in_", None)
        columns = [str(n) for n in names] if names is not None else None
        try:
            frame = _frame(json.loads(raw), columns)
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"error_code": "BAD_REQUEST", "message": f"bad input: {exc}"}
        try:
            x: Any = frame[columns] if columns is not None else frame.to_numpy()
            if self.output == "labels":
                return 200, {"predictions": np.asarray(self.model.predict(x)).tolist()}
            proba = np.asarray(self.model.predict_proba(x)).tolist()
            if self.output == "probabilities":
                return 200, {"predictions": proba}
            labels = np.asarray(self.model.predict(x)).tolist()
            items = [
                {"prediction": a, "probabilities": p} for a, p in zip(labels, proba, strict=True)
            ]
            return 200, {"predictions": items}
        except Exception as exc:  # MLflow answers model errors with 400 BAD_REQUEST
            message = f"error while evaluating the model: {exc}"
            return 400, {"error_code": "BAD_REQUEST", "message": message}

    # --- lifecycle

    def start(self, timeout: float = 15.0) -> UpstreamServer:
        self.stopping = False
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            _App(self),
            log_level="warning",
            access_log=False,
            ws="none",
            lifespan="off",
            http="h11",
            loop="asyncio",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        self._server, self._thread, self._sock = server, thread, sock
        if not server.started:
            self.stop(timeout)
            raise RuntimeError(f"the upstream test server did not start on port {self.port}")
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping = True
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> UpstreamServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
