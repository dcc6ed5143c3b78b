"""The Alertmanager configuration and templates, checked by the real ``amtool`` and, for
inhibition, a real Alertmanager on loopback."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.support.waiting import free_port, wait_until

from inferwatch.settings import Settings
from inferwatch.stack import ALERTMANAGER_BINARIES, LocalStack, find_binary

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
AM = REPO / "deploy" / "alertmanager"
CONFIG = AM / "alertmanager.yml"
TEMPLATES = AM / "templates"


def amtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("amtool")
    if exe is None:
        pytest.fail("amtool is missing: sudo apt-get install prometheus-alertmanager")
    return subprocess.run(
        [exe, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=AM
    )


def test_deploy_config_is_valid() -> None:
    result = amtool("check-config", CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (
            ["severity=critical", "alertname=ModelAccuracyCritical", "model=iris"],
            "inferwatch-webhook,critical",
        ),
        (
            ["severity=warning", "alertname=FeatureDriftDetected", "model=iris"],
            "inferwatch-webhook,warning",
        ),
        (["severity=info", "alertname=LabelsMissing", "model=iris"], "inferwatch-webhook"),
        (["alertname=SomethingWithoutSeverity"], "inferwatch-webhook"),
    ],
)
def test_routes_send_each_severity_to_its_receivers(labels: list[str], receivers: str) -> None:
    result = amtool(
        "config", "routes", "test", f"--config.file={CONFIG}",
        f"--verify.receivers={receivers}", *labels,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def test_routes_group_by_alertname_and_model_with_production_timers() -> None:
    route = yaml.safe_load(CONFIG.read_text())["route"]
    assert route["group_by"] == ["alertname", "cluster", "namespace", "job", "model"]
    assert (route["group_wait"], route["repeat_interval"]) == ("30s", "4h")


def _sample(status: str) -> dict[str, Any]:
    alert = {
        "status": status,
        "labels": {"alertname": "FeatureDriftDetected", "severity": "warning", "model": "iris",
                   "feature": "petal_length"},
        "annotations": {
            "summary": "Feature petal_length of model iris drifted (PSI 0.35)",
            "description": "PSI 0.35 (threshold 0.2, at least 200 rows in the window).",
            "runbook_url": "https://runbooks.example.org/inferwatch.html#featuredriftdetected",
        },
        "startsAt": "2026-01-01T00:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-01-01T00:10:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=x",
        "fingerprint": "0123456789abcdef",
    }  # fmt: skip
    return {
        "receiver": "warning",
        "status": status,
        "alerts": [alert],
        "groupLabels": {"alertname": "FeatureDriftDetected", "model": "iris"},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://127.0.0.1:9093",
    }


def _defined_templates() -> list[tuple[str, str]]:
    out = []
    for path in sorted(TEMPLATES.glob("*.tmpl")):
        for line in path.read_text().splitlines():
            if line.startswith('{{ define "'):
                name = line.split('"')[1]
                out.append((name, "html" if name.endswith(".html") else "text"))
    return out


def test_every_template_is_defined() -> None:
    names = {n for n, _ in _defined_templates()}
    used = set()
    for receiver in yaml.safe_load(CONFIG.read_text())["receivers"]:
        for kind in ("slack_configs", "email_configs"):
            for cfg in receiver.get(kind, []):
                text = json.dumps(cfg)
                used |= {part.split('\\"')[0] for part in text.split('template \\"')[1:]}
    assert used and used <= names


@pytest.mark.parametrize("status", ["firing", "resolved"])
@pytest.mark.parametrize(("name", "kind"), _defined_templates())
def test_every_template_renders(tmp_path: Path, name: str, kind: str, status: str) -> None:
    data = tmp_path / "data.json"
    data.write_text(json.dumps(_sample(status)))
    result = amtool(
        "template", "render", f"--template.glob={TEMPLATES}/*.tmpl",
        f'--template.text={{{{ template "{name}" . }}}}', f"--template.type={kind}",
        f"--template.data={data}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    if name.endswith(("title", "subject")):
        assert "FeatureDriftDetected" in out and "iris" in out and status.upper() in out
    elif name.endswith("color"):
        assert out.strip() == ("warning" if status == "firing" else "good")
    elif name.startswith("inferwatch.slack") or name.startswith("inferwatch.email"):
        assert "drifted (PSI 0.35)" in out and "iris" in out
        assert "/dashboard" in out
        assert "https://runbooks.example.org/inferwatch.html#featuredriftdetected" in out
        assert "http://127.0.0.1:9090/graph" in out


# ---------------------------------------------------------------- the rendered local config


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", port=8123, **extra)


def test_local_config_without_secrets_only_calls_the_webhook(tmp_path: Path) -> None:
    stack = LocalStack(_settings(tmp_path))
    paths = stack.render()
    config = yaml.safe_load(paths.alertmanager_config.read_text())
    assert amtool("check-config", paths.alertmanager_config).returncode == 0
    kinds = {k for r in config["receivers"] for k in r if k.endswith("_configs")}
    assert kinds == {"webhook_configs"}
    [hook] = [h for r in config["receivers"] for h in r.get("webhook_configs", [])]
    assert hook["url"] == "http://127.0.0.1:8123/alerts"
    assert not any(k.startswith("smtp_") for k in config["global"])
    assert config["route"] == yaml.safe_load(CONFIG.read_text())["route"]


def test_local_config_with_secrets_files(tmp_path: Path) -> None:
    slack = tmp_path / "slack_api_url"
    slack.write_text("http://127.0.0.1:1/hooks/T0-secret")
    password = tmp_path / "smtp_password"
    password.write_text("not-a-real-password")
    settings = _settings(
        tmp_path,
        slack_api_url_file=slack,
        slack_channel="#iris",
        smtp_smarthost="127.0.0.1:2525",
        smtp_to="oncall@example.org",
        smtp_username="inferwatch",
        smtp_password_file=password,
        smtp_require_tls=False,
    )
    paths = LocalStack(settings, fast=True).render()
    text = paths.alertmanager_config.read_text()
    assert "not-a-real-password" not in text and "T0-secret" not in text
    config = yaml.safe_load(text)
    assert amtool("check-config", paths.alertmanager_config).returncode == 0
    by_name = {r["name"]: r for r in config["receivers"]}
    assert by_name["critical"]["slack_configs"][0]["api_url_file"] == str(slack)
    assert by_name["critical"]["slack_configs"][0]["channel"] == "#iris"
    assert by_name["critical"]["email_configs"][0]["to"] == "oncall@example.org"
    assert "email_configs" not in by_name["warning"]
    assert config["global"]["smtp_auth_password_file"] == str(password)
    assert config["global"]["smtp_require_tls"] is False
    assert config["route"]["group_wait"] == "1s"


# ---------------------------------------------------------------- inhibition, for real


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    binary = find_binary(ALERTMANAGER_BINARIES)
    if binary is None:
        pytest.fail("alertmanager is missing: sudo apt-get install prometheus-alertmanager")
    port = free_port()
    settings = Settings(data_dir=tmp_path / "data", port=free_port(), alertmanager_port=port)
    paths = LocalStack(settings).render()
    log = (tmp_path / "am.log").open("wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={paths.alertmanager_config}",
         f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{port}",
         "--cluster.listen-address="],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "am.log").read_text()
            assert time.monotonic() < deadline, "alertmanager not ready"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def test_critical_inhibits_the_warning_of_its_family_and_model(alertmanager: str) -> None:
    def alert(name: str, severity: str, model: str, family: str) -> dict[str, Any]:
        return {
            "labels": {"alertname": name, "severity": severity, "model": model,
                       "family": family},
            "annotations": {"summary": name},
        }  # fmt: skip

    posted = [
        alert("ModelAccuracyCritical", "critical", "iris", "model-accuracy"),
        alert("ModelAccuracyLow", "warning", "iris", "model-accuracy"),
        alert("ModelAccuracyLow", "warning", "cancer", "model-accuracy"),
        alert("HighPredictionLatency", "warning", "iris", "prediction-latency"),
    ]
    r = httpx.post(alertmanager + "/api/v2/alerts", json=posted, timeout=10)
    assert r.status_code == 200

    def states() -> dict[tuple[str, str], str]:
        alerts = httpx.get(alertmanager + "/api/v2/alerts", timeout=10).json()
        return {(a["labels"]["alertname"], a["labels"]["model"]): a["status"]["state"]
                for a in alerts}  # fmt: skip

    deadline = time.monotonic() + 20
    while len(got := states()) < 4 or "unprocessed" in got.values():
        assert time.monotonic() < deadline, got
        time.sleep(0.2)
    assert got == {
        ("ModelAccuracyCritical", "iris"): "active",
        ("ModelAccuracyLow", "iris"): "suppressed",
        ("ModelAccuracyLow", "cancer"): "active",
        ("HighPredictionLatency", "iris"): "active",
    }


def test_local_config_sends_the_api_token_to_the_webhook_from_a_file(tmp_path: Path) -> None:
    paths = LocalStack(_settings(tmp_path, api_token="s3cret-token")).render()
    text = paths.alertmanager_config.read_text()
    assert "s3cret-token" not in text
    assert amtool("check-config", paths.alertmanager_config).returncode == 0
    config = yaml.safe_load(text)
    [hook] = [h for r in config["receivers"] for h in r.get("webhook_configs", [])]
    auth = hook["http_config"]["authorization"]
    assert auth["type"] == "Bearer"
    token_file = Path(auth["credentials_file"])
    assert token_file.read_text() == "s3cret-token"
    assert token_file.stat().st_mode & 0o077 == 0


def test_alertmanager_delivers_to_a_token_protected_service(tmp_path: Path, service: Any) -> None:
    """A real Alertmanager, rendered by the stack runner, reaches /alerts with the token."""
    svc = service(api_token="s3cret-token")
    host_port = svc.url.removeprefix("http://")
    settings = Settings(
        data_dir=tmp_path / "stack-data",
        port=int(host_port.rsplit(":", 1)[1]),
        api_token="s3cret-token",
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
    )
    with LocalStack(settings, fast=True, scrape_target=host_port) as stack:
        alert = {
            "labels": {"alertname": "ModelAccuracyLow", "model": "iris", "severity": "warning"},
            "annotations": {"summary": "accuracy low"},
        }
        httpx.post(f"{stack.alertmanager_url}/api/v2/alerts", json=[alert]).raise_for_status()
        firing = wait_until(
            lambda: svc.client.get("/api/alerts").json()["firing"],
            timeout=60,
            what="the alert reached the token-protected webhook",
        )
    assert firing[0]["labels"]["alertname"] == "ModelAccuracyLow"
