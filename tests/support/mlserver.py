"""A real MLServer (Open Inference Protocol) serving a scikit-learn model, for tests.

MLServer's pins fight ours, so it lives in its own virtualenv, ``.venv-mlserver`` at the repo
root (``make mlserver-env`` builds it; ``ensure_mlserver_venv`` builds it on first use too).
``MLServerProcess({name: model_file}, workdir)`` writes a model repository (one
``model-settings.json`` with the scikit-learn runtime and the joblib file per model) and
starts ``mlserver start`` on 127.0.0.1 with free HTTP, gRPC and metrics ports; ``stop()``
ends it, ``start()`` brings it back on the same HTTP port.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tests.support.waiting import free_port

REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("INFERWATCH_MLSERVER_VENV", REPO / ".venv-mlserver"))
REQUIREMENTS = Path(__file__).with_name("requirements-mlserver.txt")


def ensure_mlserver_venv() -> Path:
    """The ``mlserver`` executable, installing MLServer in its own virtualenv if needed."""
    exe = VENV / "bin" / "mlserver"
    if exe.exists():
        return exe
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    return exe


class MLServerProcess:
    """``mlserver start`` for scikit-learn models by name."""

    def __init__(self, models: dict[str, Path], workdir: Path) -> None:
        self.exe = ensure_mlserver_venv()
        self.names = list(models)
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        for name, model_file in models.items():
            model_dir = workdir / "models" / name
            model_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(model_file, model_dir / "model.joblib")
            settings = {
                "name": name,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib"},
            }
            (model_dir / "model-settings.json").write_text(json.dumps(settings))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _server_settings(self) -> None:
        settings = {
            "host": "127.0.0.1",
            "http_port": self.port,
            "grpc_port": free_port(),
            "metrics_port": free_port(),
            "parallel_workers": 0,
            "load_models_at_startup": True,
        }
        (self.workdir / "models" / "settings.json").write_text(json.dumps(settings))

    def start(self, timeout: float = 90.0) -> MLServerProcess:
        self._server_settings()
        log = open(self.workdir / "mlserver.log", "ab")  # noqa: SIM115  # closed with the process
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLSERVER")}
        self.proc = subprocess.Popen(
            [str(self.exe), "start", str(self.workdir / "models")],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        ready = [f"{self.url}/v2/models/{name}/ready" for name in self.names]
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlserver exited: {self.log_tail()}")
            try:
                if all(httpx.get(url, timeout=1.0).status_code == 200 for url in ready):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mlserver not ready in {timeout:g}s: {self.log_tail()}")

    def log_tail(self) -> str:
        path = self.workdir / "mlserver.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
