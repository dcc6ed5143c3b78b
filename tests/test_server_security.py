"""Bearer token on the model routes, open operational routes, the safe-bind rule."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from inferwatch.server.security import InsecureBindError, check_bind, is_loopback
from inferwatch.settings import Settings

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def test_token_guards_model_routes_and_leaves_probes_open(
    service: Callable[..., Any], tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    svc = service(api_token_file=token_file)
    c = svc.client
    for path, body in (
        ("/predict", ROW),
        ("/invocations", {"instances": [ROW]}),
        ("/feedback", {"id": "x", "label": "setosa"}),
    ):
        assert c.post(path, json=body).status_code == 401
        wrong = c.post(path, json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == "Bearer"
        # refused before the body is read: an unreadable one is still a 401, not a 400
        assert c.post(path, content=b"{nope").status_code == 401
    ok = c.post("/predict", json=ROW, headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200
    for path in ("/metrics", "/healthz", "/readyz"):
        assert c.get(path).status_code == 200


def test_no_token_means_open_routes(service: Callable[..., Any]) -> None:
    svc = service()
    assert svc.client.post("/predict", json=ROW).status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_public_bind_needs_a_token_or_explicit_opt_in() -> None:
    with pytest.raises(InsecureBindError, match="API token"):
        check_bind(Settings(host="0.0.0.0"))
    check_bind(Settings(host="0.0.0.0", api_token="t" * 16))
    check_bind(Settings(host="0.0.0.0", allow_insecure_public_bind=True))
    check_bind(Settings(host="127.0.0.1"))


def test_serve_refuses_public_bind_without_token(tmp_path: Path, iris_model_dir: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "inferwatch.cli",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--model-dir",
            str(iris_model_dir),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 2
    assert "refusing to listen on 0.0.0.0" in proc.stderr
    assert not (tmp_path / "d").exists()


def test_token_guards_the_alert_webhook_and_retraining(
    service: Callable[..., Any], tmp_path: Path
) -> None:
    """An alert can start retraining, so the webhook needs the token too."""
    svc = service(api_token="s3cret-token")
    payload = {"version": "4", "status": "firing", "alerts": []}
    assert svc.client.post("/alerts", json=payload).status_code == 401
    assert svc.client.post("/api/retrain").status_code == 401
    auth = {"Authorization": "Bearer s3cret-token"}
    assert svc.client.post("/alerts", json=payload, headers=auth).status_code != 401
    assert svc.client.get("/api/alerts").status_code == 200
