"""Tokens worth the name: long enough for a public bind, the scheme in any case."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferwatch.server.security import InsecureBindError, TokenCheck, check_bind
from inferwatch.settings import Settings

TOKEN = "0123456789abcdef-token"
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.mark.parametrize("token", ["x", " " * 20, "\t\n   \t", "short-token-15ch"[:15]])
def test_public_bind_refuses_a_weak_token(token: str, tmp_path: Path) -> None:
    with pytest.raises(InsecureBindError):
        check_bind(Settings(host="0.0.0.0", api_token=token))
    token_file = tmp_path / "token"
    token_file.write_text(token)
    with pytest.raises(InsecureBindError):
        check_bind(Settings(host="0.0.0.0", api_token_file=token_file))
    check_bind(Settings(host="0.0.0.0", api_token=TOKEN))


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (f"BEARER  {TOKEN}", True),
        (f"Basic {TOKEN}", False),
        (f"Bearer {TOKEN}x", False),
        (TOKEN, False),
        ("Bearer", False),
        ("", False),
        (None, False),
    ],
)
def test_the_scheme_is_case_insensitive_and_the_token_exact(
    header: str | None, allowed: bool
) -> None:
    assert TokenCheck(TOKEN).allows(header) is allowed


def test_lower_case_bearer_passes_over_http(service: Callable[..., Any]) -> None:
    svc = service(api_token=TOKEN)
    ok = svc.client.post("/predict", json=ROW, headers={"authorization": f"bearer {TOKEN}"})
    assert ok.status_code == 200
    wrong = svc.client.post("/predict", json=ROW, headers={"authorization": "bearer nope"})
    assert wrong.status_code == 401


def test_an_old_webhook_token_file_becomes_private(tmp_path: Path) -> None:
    from inferwatch.local.render import StackPaths, alertmanager_config, default_deploy_dir

    settings = Settings(data_dir=tmp_path, api_token=TOKEN)
    paths = StackPaths.for_settings(settings)
    token_file = paths.root / "webhook_token"
    token_file.parent.mkdir(parents=True)
    token_file.write_text("old")
    token_file.chmod(0o644)
    deploy = yaml.safe_load(
        (default_deploy_dir() / "alertmanager" / "alertmanager.yml").read_text()
    )
    alertmanager_config(settings, deploy, paths, webhook_url="http://127.0.0.1:1/alerts", fast=True)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text() == TOKEN


def test_compose_is_secure_by_default() -> None:
    root = Path(__file__).resolve().parent.parent
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    services = compose["services"]
    secrets = compose["secrets"]
    assert secrets["api_token"]["file"] == "./secrets/api_token"
    for name in ("inferwatch", "ingest", "simulator"):
        env = services[name]["environment"]
        assert env["INFERWATCH_API_TOKEN_FILE"] == "/run/secrets/api_token", name
        assert "api_token" in services[name]["secrets"], name
    assert "INFERWATCH_ALLOW_INSECURE_PUBLIC_BIND" not in services["inferwatch"]["environment"]
    grafana = services["grafana"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in grafana["environment"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"].endswith(
        "/grafana_admin_password"
    )
    assert "grafana_admin_password" in grafana["secrets"]
    assert "--web.enable-lifecycle" not in services["prometheus"]["command"]
    am = yaml.safe_load((root / "deploy" / "alertmanager" / "alertmanager.yml").read_text())
    hook = next(r for r in am["receivers"] if r["name"] == "inferwatch-webhook")
    auth = hook["webhook_configs"][0]["http_config"]["authorization"]
    assert auth["credentials_file"] == "/etc/alertmanager/secrets/api_token"


def test_local_stack_without_a_token_sends_no_webhook_credentials(tmp_path: Path) -> None:
    from inferwatch.local.render import StackPaths, alertmanager_config, default_deploy_dir

    settings = Settings(data_dir=tmp_path)
    deploy = yaml.safe_load(
        (default_deploy_dir() / "alertmanager" / "alertmanager.yml").read_text()
    )
    config = alertmanager_config(
        settings,
        deploy,
        StackPaths.for_settings(settings),
        webhook_url="http://127.0.0.1:1/alerts",
        fast=True,
    )
    hooks = [h for r in config["receivers"] for h in r.get("webhook_configs", [])]
    assert hooks and all("http_config" not in h for h in hooks)
