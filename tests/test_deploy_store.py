"""The deployments and their prediction store: compose runs the service on a PostgreSQL
service, Kubernetes replicas share a database named by a Secret, the EC2 user data passes
shellcheck and brings compose up, and the Render blueprint runs the image with its disk."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from inferwatch.settings import Settings
from inferwatch.store.url import scheme

ROOT = Path(__file__).resolve().parent.parent
SETTING_ENV = {f"INFERWATCH_{name.upper()}" for name in Settings.model_fields}


def load(path: str) -> Any:
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def test_compose_service_uses_the_postgres_service_with_a_secret_password() -> None:
    compose = load("docker-compose.yml")
    app, db = compose["services"]["inferwatch"], compose["services"]["postgres"]
    url = app["environment"]["INFERWATCH_STORE_URL"]
    assert (
        scheme(url) == "postgresql"
        and "@postgres:5432/" in url
        and ":" not in url[13:].split("@")[0]
    )
    # the password is a file both containers read, never a value in the compose file
    secret = compose["secrets"]["postgres_password"]["file"]
    assert secret == "./secrets/postgres_password"
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert app["environment"]["INFERWATCH_STORE_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "postgres_password" in app["secrets"]  # mounted at /run/secrets/postgres_password
    assert db["image"].startswith("postgres:") and db["image"] != "postgres:latest"
    assert any(v.startswith("postgres-data:") for v in db["volumes"])
    assert "postgres-data" in compose["volumes"]
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert not any("PASSWORD=" in str(v) for v in db["environment"].values())
    assert "postgres_password" in (ROOT / "secrets" / "README.md").read_text(encoding="utf-8")


def test_the_image_installs_the_postgres_driver() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "'.[server,postgres]'" in dockerfile


def test_kubernetes_replicas_share_a_store_named_by_a_secret() -> None:
    deployment = load("deploy/kubernetes/deployment.yaml")
    assert deployment["spec"]["replicas"] >= 2
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    ref = env["INFERWATCH_STORE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "inferwatch-store", "key": "url"}
    assert all(name in SETTING_ENV for name in env if name.startswith("INFERWATCH_"))
    # no SQLite store anywhere in the manifest: nothing the pod keeps lives on its emptyDir
    text = (ROOT / "deploy" / "kubernetes" / "deployment.yaml").read_text(encoding="utf-8")
    assert "sqlite" not in text.lower()


def test_deployment_docs_no_longer_ask_for_sticky_routing() -> None:
    text = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8").lower()
    assert "sticky" not in text and "inferwatch-store" in text


def test_ec2_user_data_passes_shellcheck_and_brings_compose_up() -> None:
    script = ROOT / "deploy" / "aws" / "ec2-user-data.sh"
    checker = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    result = subprocess.run(
        [checker, "--shell=bash", "--severity=style", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert "docker-compose-plugin" in text and "git clone" in text
    assert text.rstrip().endswith("docker compose up -d --build")
    assert "secrets/postgres_password" in text  # compose needs it before it starts


def test_render_blueprint_runs_the_image_with_its_dashboard_and_disk(service: Any) -> None:
    blueprint = load("render.yaml")
    [web] = blueprint["services"]
    assert (web["type"], web["runtime"], web.get("numInstances", 1)) == ("web", "docker", 1)
    assert (ROOT / web["dockerfilePath"]).is_file() and (ROOT / web["dockerContext"]).is_dir()
    env = {e["key"]: e for e in web["envVars"]}
    assert all(key in SETTING_ENV for key in env)
    # public on the internet: the service refuses to start without a token, so one is generated
    assert env["INFERWATCH_API_TOKEN"]["generateValue"] is True
    assert web["disk"]["mountPath"] == env["INFERWATCH_DATA_DIR"]["value"]
    svc = service()
    assert svc.client.get(web["healthCheckPath"]).status_code == 200
    assert svc.client.get("/dashboard").status_code == 200
