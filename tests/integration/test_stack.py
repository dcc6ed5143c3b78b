"""The local stack runner with the real Prometheus and Alertmanager binaries."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, start_http_server
from tests.support.waiting import free_port, wait_until

from inferwatch.settings import Settings
from inferwatch.stack import INSTALL_HINT, LocalStack, MissingBinaryError, StackError

RUNBOOKS = "https://wiki.example.net/ml/inferwatch-runbooks"  # an installation's own page

pytestmark = pytest.mark.integration


@pytest.fixture
def metrics_target() -> Iterator[str]:
    """A tiny /metrics endpoint standing in for the service."""
    registry = CollectorRegistry()
    Counter("inferwatch_http_requests", "test", registry=registry).inc()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def stack_settings(tmp_path: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "port": free_port(),
        "prometheus_port": free_port(),
        "alertmanager_port": free_port(),
        "scrape_interval": "1s",
        "evaluation_interval": "1s",
    }
    values.update(extra)
    return Settings(**values)


def targets(prometheus_url: str) -> dict[str, str]:
    body = httpx.get(prometheus_url + "/api/v1/targets", timeout=5).json()
    return {t["labels"]["job"]: t["health"] for t in body["data"]["activeTargets"]}


def test_stack_up_scrapes_and_down_stops(tmp_path: Path, metrics_target: str) -> None:
    settings = stack_settings(tmp_path)
    with LocalStack(settings, fast=True, scrape_target=metrics_target) as stack:
        for url in (stack.prometheus_url, stack.alertmanager_url):
            assert httpx.get(url + "/-/ready", timeout=5).status_code == 200
        pids = [s.pid for s in stack.status()]
        assert all(s.ready for s in stack.status())
        wait_until(
            lambda: (
                targets(stack.prometheus_url)
                == {"inferwatch": "up", "alertmanager": "up", "prometheus": "up"}
            ),
            30,
            "all three targets up",
        )
        # the rules are loaded, with the shortened alert delays of --fast
        groups = httpx.get(stack.prometheus_url + "/api/v1/rules", timeout=5).json()
        alerts = {
            r["name"]: r["duration"]
            for g in groups["data"]["groups"]
            for r in g["rules"]
            if r["type"] == "alerting"
        }
        assert alerts["ModelAccuracyLow"] == 10 and alerts["InferwatchTargetDown"] == 10
        assert {"FeatureDriftDetected", "DataLakeUnavailable"} <= set(alerts)
    for pid in pids:
        assert pid is not None and not psutil.pid_exists(pid)
    assert not any(s.running for s in LocalStack(settings).status())
    assert not list((settings.data_dir / "stack").glob("*.pid"))


def test_stack_fires_an_alert_into_alertmanager(tmp_path: Path) -> None:
    """A service that is down: Prometheus fires InferwatchTargetDown, Alertmanager has it."""
    closed = f"127.0.0.1:{free_port()}"
    settings = stack_settings(tmp_path, runbook_base_url=RUNBOOKS)
    with LocalStack(settings, fast=True, fast_for=2, scrape_target=closed) as stack:

        def received() -> list[dict[str, Any]]:
            r = httpx.get(stack.alertmanager_url + "/api/v2/alerts", timeout=5)
            return [a for a in r.json() if a["labels"]["alertname"] == "InferwatchTargetDown"]

        [alert] = wait_until(received, 60, "InferwatchTargetDown in Alertmanager")
        assert alert["labels"]["severity"] == "critical"
        assert alert["labels"]["instance"] == closed
        assert alert["annotations"]["runbook_url"] == RUNBOOKS + "#inferwatchtargetdown"


def test_deploy_files_keep_production_delays(tmp_path: Path) -> None:
    stack = LocalStack(stack_settings(tmp_path), fast=True)
    paths = stack.render()
    rendered = yaml.safe_load((paths.rules_dir / "alerts.yml").read_text())
    deployed = yaml.safe_load((stack.deploy_dir / "prometheus/rules/alerts.yml").read_text())

    def delays(doc: Any) -> dict[str, str]:
        return {r["alert"]: r.get("for", "0s") for g in doc["groups"] for r in g["rules"]}

    assert delays(deployed)["ModelAccuracyLow"] == "5m"
    assert delays(rendered)["ModelAccuracyLow"] == "10s"
    assert delays(rendered)["RetrainingFailed"] == "10s"
    assert [g["rules"][0].get("expr") for g in rendered["groups"]] == [
        g["rules"][0].get("expr") for g in deployed["groups"]
    ]


def test_missing_binaries_say_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingBinaryError, match=INSTALL_HINT):
        LocalStack(stack_settings(tmp_path)).start()
    assert not list((tmp_path / "data" / "stack").glob("*.pid"))


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inferwatch.cli", "stack", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_up_status_down_from_separate_processes(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERWATCH_")} | {
        "INFERWATCH_DATA_DIR": str(settings.data_dir),
        "INFERWATCH_PORT": str(settings.port),
        "INFERWATCH_PROMETHEUS_PORT": str(settings.prometheus_port),
        "INFERWATCH_ALERTMANAGER_PORT": str(settings.alertmanager_port),
    }
    pids: list[int | None] = []
    try:
        up = _cli(["up", "--fast"], env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"127.0.0.1:{settings.prometheus_port}" in up.stdout
        pids = [s.pid for s in LocalStack(settings).status()]
        status = _cli(["status"], env)
        assert status.returncode == 0, status.stdout
        assert status.stdout.count("ready") == 2
        again = _cli(["up"], env)
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        down = _cli(["down"], env)
    assert down.returncode == 0 and "stopped prometheus and alertmanager" in down.stdout
    for pid in pids:
        assert pid is not None and not psutil.pid_exists(pid)
    status = _cli(["status"], env)
    assert status.returncode == 1 and status.stdout.count("stopped") == 2


def test_stack_from_a_relative_data_dir_loads_every_rule_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, metrics_target: str
) -> None:
    """The README's way: the default data dir ``.inferwatch`` relative to the working
    directory; every rule file's groups and every scrape job reach Prometheus."""
    monkeypatch.chdir(tmp_path)
    settings = stack_settings(tmp_path, data_dir=Path(".inferwatch"))
    with LocalStack(settings, fast=True, scrape_target=metrics_target) as stack:
        rendered = yaml.safe_load(stack.paths.prometheus_config.read_text())
        assert all(Path(p).is_absolute() for p in rendered["rule_files"])
        am = yaml.safe_load(stack.paths.alertmanager_config.read_text())
        assert all(Path(p).is_absolute() for p in am["templates"])
        body = httpx.get(stack.prometheus_url + "/api/v1/rules", timeout=5).json()
        files = {g["file"] for g in body["data"]["groups"] if g["rules"]}
        deployed = sorted(p.name for p in (stack.deploy_dir / "prometheus/rules").glob("*.yml"))
        assert sorted(Path(f).name for f in files) == deployed
        assert all(f.startswith(str(tmp_path / ".inferwatch" / "stack")) for f in files)


def _relative_rule_files(config: dict[str, Any]) -> None:
    # the bug a relative data dir used to cause: Prometheus resolves this against the
    # folder of its config file and finds nothing
    config["rule_files"] = [".inferwatch/stack/rules/*.yml"]


def _no_alertmanager_job(config: dict[str, Any]) -> None:
    config["scrape_configs"] = [
        c for c in config["scrape_configs"] if c["job_name"] != "alertmanager"
    ]


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (_relative_rule_files, "no rules loaded from .*alerts.yml"),
        (_no_alertmanager_job, "no scrape target for job alertmanager"),
    ],
)
def test_stack_refuses_a_prometheus_that_missed_rules_or_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, breakage: Any, message: str
) -> None:
    import inferwatch.stack as stack_module

    render = stack_module.prometheus_config

    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        config = render(*args, **kwargs)
        breakage(config)
        return config

    monkeypatch.setattr(stack_module, "prometheus_config", broken)
    settings = stack_settings(tmp_path)
    stack = LocalStack(settings, fast=True)
    with pytest.raises(StackError, match=message) as caught:
        stack.start()
    assert "\n" not in str(caught.value)
    # nothing is left running after the refusal
    assert not any(s.running for s in stack.status())
    assert not list((settings.data_dir / "stack").glob("*.pid"))
