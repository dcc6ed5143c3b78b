"""Shared fixtures: example model directories and running services on 127.0.0.1.

- ``iris_model_dir`` / ``cancer_model_dir``: trained example model directories (once per run).
- ``service``: a factory that starts the app under uvicorn in a thread on a free port with
  explicit ``Settings`` and returns a ``RunningService`` (``url``, ``settings``, ``app``,
  ``client`` — an ``httpx.Client`` bound to the URL). Everything is torn down after the test.
- ``serve_process``: a factory that starts ``inferwatch serve`` as a real subprocess (for
  crash and restart tests); ``RunningProcess.kill()`` sends SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.waiting import free_port, wait_until

from inferwatch.settings import Settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def iris_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from inferwatch.examples import write_example

    out = tmp_path_factory.mktemp("models") / "iris"
    write_example("iris", out)
    return out


@pytest.fixture(scope="session")
def cancer_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from inferwatch.examples import write_example

    out = tmp_path_factory.mktemp("models") / "cancer"
    write_example("cancer", out)
    return out


@dataclass
class RunningService:
    url: str
    settings: Settings
    app: Any
    client: httpx.Client
    _server: Any = None
    _thread: threading.Thread | None = None

    @property
    def state(self) -> Any:
        """The app's ``ServiceState``."""
        return self.app.state.service

    def stop(self) -> None:
        self.client.close()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(20)
            self._thread = None


@pytest.fixture
def service(tmp_path: Path, iris_model_dir: Path) -> Iterator[Callable[..., RunningService]]:
    """``service(**settings_overrides, backend=None, headers=None)`` -> ``RunningService``.

    Defaults: the iris example, a fresh data directory, 127.0.0.1 on a free port.
    """
    import uvicorn

    from inferwatch.server.app import create_app

    started: list[RunningService] = []

    def start(
        *, backend: Any = None, headers: dict[str, str] | None = None, **overrides: Any
    ) -> RunningService:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "model_dir": iris_model_dir,
            "data_dir": tmp_path / f"data{len(started)}",
        }
        values.update(overrides)
        settings = Settings(**values)
        app = create_app(settings, backend=backend)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, ws="none", lifespan="on"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: server.started or not thread.is_alive(), timeout=30)
        if not server.started:
            raise RuntimeError("the service did not start")
        # the window is rebuilt from the store while the service already answers
        # (every model's, with --models-dir)
        states = list(getattr(app.state, "models", {}).values()) or [app.state.service]
        wait_until(lambda: all(s.rebuilt for s in states), timeout=30, what="window rebuilt")
        sock.close()
        running = RunningService(
            url,
            settings,
            app,
            httpx.Client(base_url=url, timeout=30, headers=headers or {}),
            server,
            thread,
        )
        started.append(running)
        return running

    yield start
    for running in reversed(started):
        running.stop()


@dataclass
class RunningProcess:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[Callable[..., RunningProcess]]:
    """``serve_process(args, env=None, port=None)``: run ``inferwatch serve ARGS`` on
    127.0.0.1 and wait until ``/healthz`` answers."""
    procs: list[RunningProcess] = []

    def start(
        args: list[str], env: dict[str, str] | None = None, port: int | None = None
    ) -> RunningProcess:
        port = port or free_port()
        log = tmp_path / f"serve-{len(procs)}.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("INFERWATCH_")} | (
            env or {}
        )
        cmd = [sys.executable, "-m", "inferwatch.cli", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), *args]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env)
        running = RunningProcess(f"http://127.0.0.1:{port}", proc, log, full_env)
        procs.append(running)

        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"inferwatch serve exited:\n{running.output()}")
            try:
                return httpx.get(running.url + "/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=60, interval=0.1)
        return running

    yield start
    for running in procs:
        running.terminate()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Any]:
    """A throw-away PostgreSQL cluster on 127.0.0.1 for the session (``PostgresCluster``);
    ``new_database()`` gives each test a database of its own."""
    from tests.support.postgres import PostgresCluster, available

    if not available():
        pytest.fail("PostgreSQL is not installed: `make system-deps` (Debian package postgresql)")
    cluster = PostgresCluster.create()
    yield cluster
    cluster.destroy()
