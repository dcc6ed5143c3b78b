"""The local stack runner: Prometheus and Alertmanager as child processes on loopback.

It renders the configuration into ``<data_dir>/stack/`` (:mod:`inferwatch.local.render`:
scrape targets and the webhook on 127.0.0.1, the same rule files, Slack and email only when
their secrets are configured), starts ``prometheus`` and ``alertmanager`` (Debian:
``prometheus-alertmanager``), waits until both answer ``/-/ready`` and stops them with
SIGTERM, then SIGKILL after a timeout. Pid files let ``inferwatch stack down|status`` act
from another shell.

With ``fast=True`` every alert ``for:`` is shortened to at most ``fast_for`` seconds and
Alertmanager groups and repeats quickly, so a demo or a test sees an incident cycle in
minutes; the files in ``deploy/`` keep the production values.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
import psutil
import yaml

from inferwatch.local.render import (
    StackPaths,
    alertmanager_config,
    default_deploy_dir,
    prometheus_config,
    render_rules,
    render_templates,
)
from inferwatch.local.stackcheck import check_prometheus, rule_groups
from inferwatch.settings import Settings

INSTALL_HINT = "sudo apt-get install prometheus prometheus-alertmanager"
PROMETHEUS_BINARIES = ("prometheus",)
ALERTMANAGER_BINARIES = ("alertmanager", "prometheus-alertmanager")


class StackError(RuntimeError):
    """The stack cannot start or stop; the message says what to do."""


class MissingBinaryError(StackError):
    """Prometheus or Alertmanager is not installed."""


def find_binary(names: tuple[str, ...]) -> str | None:
    """The first of ``names`` found on ``PATH``."""
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


# ---------------------------------------------------------------- processes


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int | None
    running: bool
    url: str
    ready: bool


def _is_our_process(pid: int, binary_names: tuple[str, ...], config: Path) -> bool:
    """Whether ``pid`` is still the process the pid file meant (not a reused pid)."""
    try:
        proc = psutil.Process(pid)
        cmdline = proc.cmdline()
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    if not cmdline:
        return False
    exe = Path(cmdline[0]).name
    return exe in binary_names and any(str(config) in arg for arg in cmdline)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM, then SIGKILL if ``pid`` has not exited after ``timeout`` seconds."""
    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout)
    except psutil.NoSuchProcess:
        pass


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


class LocalStack:
    """Prometheus and Alertmanager for one inferwatch service, on 127.0.0.1.

    ``settings`` gives the ports (``prometheus_port``, ``alertmanager_port``), the service
    address, the intervals and the Slack/SMTP secrets. ``scrape_target`` (``host:port``)
    and ``webhook_url`` default to the service at ``127.0.0.1:settings.port``.

    Use as a context manager (children stop on exit) or call ``start()``/``stop()``;
    ``start(detach=True)`` leaves them running for ``inferwatch stack down``.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        fast: bool = False,
        fast_for: float = 10.0,
        rule_range_seconds: float | None = None,
        extra_jobs: Mapping[str, str] | None = None,
        deploy_dir: Path | None = None,
        scrape_target: str | None = None,
        webhook_url: str | None = None,
        dashboard_url: str | None = None,
        ready_timeout: float = 60.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.settings = settings
        self.fast = fast
        self.fast_for = fast_for
        self.rule_range_seconds = rule_range_seconds
        self.extra_jobs = dict(extra_jobs or {})
        self.deploy_dir = deploy_dir or default_deploy_dir()
        self.paths = StackPaths.for_settings(settings)
        service = f"127.0.0.1:{settings.port}"
        self.scrape_target = scrape_target or service
        self.webhook_url = webhook_url or f"http://{self.scrape_target}/alerts"
        self.dashboard_url = dashboard_url or f"http://{self.scrape_target}/dashboard"
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._rule_files: list[Path] = []

    @property
    def jobs(self) -> list[str]:
        """The scrape jobs of the rendered Prometheus configuration."""
        return ["inferwatch", "alertmanager", "prometheus", *self.extra_jobs]

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.alertmanager_port}"

    # --- configuration

    def render(self) -> StackPaths:
        """Write the local configuration into ``<data_dir>/stack/``."""
        prom_src = self.deploy_dir / "prometheus"
        am_src = self.deploy_dir / "alertmanager"
        if not (prom_src / "rules").is_dir() or not (am_src / "alertmanager.yml").is_file():
            raise StackError(
                f"{self.deploy_dir} holds no Prometheus rules or Alertmanager config; "
                "run from an inferwatch source tree or pass deploy_dir"
            )
        paths = self.paths
        paths.root.mkdir(parents=True, exist_ok=True)
        self._rule_files = render_rules(
            prom_src / "rules",
            paths.rules_dir,
            self.fast_for if self.fast else None,
            self.rule_range_seconds,
            self.settings.runbook_base_url,
        )
        prom = prometheus_config(
            self.settings,
            paths,
            scrape_target=self.scrape_target,
            alertmanager_port=self.settings.alertmanager_port,
            prometheus_port=self.settings.prometheus_port,
            extra_jobs=self.extra_jobs,
        )
        paths.prometheus_config.write_text(yaml.safe_dump(prom, sort_keys=False))
        render_templates(am_src / "templates", paths.templates_dir, self.dashboard_url)
        deploy_am = yaml.safe_load((am_src / "alertmanager.yml").read_text(encoding="utf-8"))
        am = alertmanager_config(
            self.settings, deploy_am, paths, webhook_url=self.webhook_url, fast=self.fast
        )
        paths.alertmanager_config.write_text(yaml.safe_dump(am, sort_keys=False))
        return paths

    def commands(self) -> dict[str, list[str]]:
        """The command lines of both children (binaries resolved on ``PATH``)."""
        prometheus = find_binary(PROMETHEUS_BINARIES)
        alertmanager = find_binary(ALERTMANAGER_BINARIES)
        missing = [
            name
            for name, path in (("prometheus", prometheus), ("alertmanager", alertmanager))
            if path is None
        ]
        if prometheus is None or alertmanager is None:
            raise MissingBinaryError(
                f"{' and '.join(missing)} not found on PATH; install with: {INSTALL_HINT}"
            )
        p = self.paths
        return {
            "prometheus": [
                prometheus,
                f"--config.file={p.prometheus_config}",
                f"--storage.tsdb.path={p.prometheus_storage}",
                f"--web.listen-address=127.0.0.1:{self.settings.prometheus_port}",
                "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=7d",
            ],
            "alertmanager": [
                alertmanager,
                f"--config.file={p.alertmanager_config}",
                f"--storage.path={p.alertmanager_storage}",
                f"--web.listen-address=127.0.0.1:{self.settings.alertmanager_port}",
                "--cluster.listen-address=",
            ],
        }

    # --- lifecycle

    def start(self, *, detach: bool = False) -> None:
        """Render, start both children and wait until both are ready.

        With ``detach`` the children outlive this process (``inferwatch stack up``).
        """
        running = [s.name for s in self.status() if s.running]
        if running:
            raise StackError(
                f"{' and '.join(running)} already running from {self.paths.root} "
                "(inferwatch stack down stops them)"
            )
        commands = self.commands()
        self.render()
        self.paths.prometheus_storage.mkdir(parents=True, exist_ok=True)
        self.paths.alertmanager_storage.mkdir(parents=True, exist_ok=True)
        try:
            for name in ("alertmanager", "prometheus"):
                self._spawn(name, commands[name], detach)
            self._wait_ready()
            self._check_loaded()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, command: list[str], detach: bool) -> None:
        log = self.paths.log_file(name).open("ab")
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=detach,
            )
        finally:
            log.close()
        self._procs[name] = proc
        self.paths.pid_file(name).write_text(f"{proc.pid}\n")

    def _wait_ready(self) -> None:
        urls = {"prometheus": self.prometheus_url, "alertmanager": self.alertmanager_url}
        deadline = time.monotonic() + self.ready_timeout
        pending = dict(urls)
        while pending:
            for name, url in list(pending.items()):
                proc = self._procs[name]
                if proc.poll() is not None:
                    raise StackError(
                        f"{name} exited with code {proc.returncode}:\n{self._log_tail(name)}"
                    )
                if _ready(url):
                    del pending[name]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise StackError(
                    f"{', '.join(pending)} not ready after {self.ready_timeout:g}s; "
                    f"logs in {self.paths.root}"
                )
            time.sleep(0.1)

    def _check_loaded(self) -> None:
        """Refuse a Prometheus that is ready but missed a rule file or a scrape job."""
        problems = check_prometheus(
            self.prometheus_url,
            rule_groups(self._rule_files),
            self.jobs,
            timeout=min(self.ready_timeout, 15.0),
        )
        if problems:
            raise StackError(
                f"Prometheus started without what was rendered for it: {'; '.join(problems)} "
                f"(config {self.paths.prometheus_config}, log {self.paths.log_file('prometheus')})"
            )

    def _log_tail(self, name: str, lines: int = 20) -> str:
        try:
            text = self.paths.log_file(name).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop both children (SIGTERM, then SIGKILL after ``stop_timeout``)."""
        for name in ("prometheus", "alertmanager"):
            proc = self._procs.pop(name, None)
            pid_file = self.paths.pid_file(name)
            if proc is not None:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(self.stop_timeout)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(self.stop_timeout)
            else:
                pid = _read_pid(pid_file)
                if pid is not None and self._owns(name, pid):
                    _terminate(pid, self.stop_timeout)
            pid_file.unlink(missing_ok=True)

    def _owns(self, name: str, pid: int) -> bool:
        binaries = PROMETHEUS_BINARIES if name == "prometheus" else ALERTMANAGER_BINARIES
        config = (
            self.paths.prometheus_config if name == "prometheus" else self.paths.alertmanager_config
        )
        return _is_our_process(pid, binaries, config)

    def status(self) -> list[ProcessStatus]:
        """Each child's pid (from its pid file), whether it runs and answers ``/-/ready``."""
        out = []
        for name, url in (
            ("prometheus", self.prometheus_url),
            ("alertmanager", self.alertmanager_url),
        ):
            pid = _read_pid(self.paths.pid_file(name))
            running = pid is not None and self._owns(name, pid)
            out.append(ProcessStatus(name, pid, running, url, running and _ready(url)))
        return out

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = [
    "ALERTMANAGER_BINARIES",
    "INSTALL_HINT",
    "PROMETHEUS_BINARIES",
    "LocalStack",
    "MissingBinaryError",
    "ProcessStatus",
    "StackError",
    "find_binary",
]
