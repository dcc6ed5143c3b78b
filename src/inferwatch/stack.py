"""The local stack runner: Prometheus and Alertmanager as child processes on loopback.

It renders ``deploy/prometheus`` and ``deploy/alertmanager`` into ``<data_dir>/stack/``
(scrape targets and the webhook on 127.0.0.1, the same rule files, Slack and email only
when their secrets are configured), starts ``prometheus`` and ``alertmanager`` (Debian:
``prometheus-alertmanager``), waits until both answer ``/-/ready`` and stops them with
SIGTERM, then SIGKILL after a timeout. Pid files let ``inferwatch stack down|status`` act
from another shell.

With ``fast=True`` every alert ``for:`` is shortened to at most ``fast_for`` seconds and
Alertmanager groups and repeats quickly, so a demo or a test sees an incident cycle in
minutes; the files in ``deploy/`` keep the production values.

>>> shorten_duration("5m", 10)
'10s'
>>> shorten_duration("5s", 10)
'5s'
>>> shorten_duration("1m", 2.5)
'2500ms'
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import psutil
import yaml

from inferwatch.settings import DEFAULT_RUNBOOK_BASE_URL, Settings
from inferwatch.stackcheck import check_prometheus, rule_groups

INSTALL_HINT = "sudo apt-get install prometheus prometheus-alertmanager"
PROMETHEUS_BINARIES = ("prometheus",)
ALERTMANAGER_BINARIES = ("alertmanager", "prometheus-alertmanager")

_DURATION_PART = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}


class StackError(RuntimeError):
    """The stack cannot start or stop; the message says what to do."""


class MissingBinaryError(StackError):
    """Prometheus or Alertmanager is not installed."""


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as ``"1h30m"``.

    >>> parse_duration("1h30m")
    5400.0
    """
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


def shorten_duration(text: str, at_most: float) -> str:
    """``text`` if it is no longer than ``at_most`` seconds, else ``at_most`` as ``"<n>s"``."""
    if parse_duration(text) <= at_most:
        return text
    if float(at_most).is_integer():
        return f"{int(at_most)}s"
    return f"{round(at_most * 1000)}ms"


def find_binary(names: tuple[str, ...]) -> str | None:
    """The first of ``names`` found on ``PATH``."""
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


def default_deploy_dir() -> Path:
    """``deploy/`` of the source tree this package runs from."""
    return Path(__file__).resolve().parents[2] / "deploy"


@dataclass(frozen=True)
class StackPaths:
    """Where the rendered configuration, state, logs and pid files live. Every path is
    absolute: Prometheus resolves a relative ``rule_files`` entry against the folder of its
    config file, not against the working directory."""

    root: Path
    data_dir: Path

    @classmethod
    def for_settings(cls, settings: Settings) -> StackPaths:
        data_dir = settings.data_dir.resolve()
        return cls(root=data_dir / "stack", data_dir=data_dir)

    @property
    def prometheus_config(self) -> Path:
        return self.root / "prometheus.yml"

    @property
    def rules_dir(self) -> Path:
        return self.root / "rules"

    @property
    def alertmanager_config(self) -> Path:
        return self.root / "alertmanager.yml"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def prometheus_storage(self) -> Path:
        return self.data_dir / "prometheus"

    @property
    def alertmanager_storage(self) -> Path:
        return self.data_dir / "alertmanager"

    def pid_file(self, name: str) -> Path:
        return self.root / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.root / f"{name}.log"


# ---------------------------------------------------------------- rendering


_RANGE = re.compile(r"\[(\d+[smhdwy])\]")


def shorten_rule_ranges(text: str, at_most: float) -> str:
    """Every PromQL range selector in ``text`` longer than ``at_most`` seconds cut to it.

    >>> shorten_rule_ranges("increase(x[10m]) / rate(y[1m]) + rate(z[10s])", 30)
    'increase(x[30s]) / rate(y[30s]) + rate(z[10s])'
    """
    return _RANGE.sub(lambda m: f"[{shorten_duration(m.group(1), at_most)}]", text)


def render_rules(
    src_dir: Path,
    dst_dir: Path,
    fast_for: float | None,
    range_at_most: float | None = None,
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
) -> list[Path]:
    """Copy every ``*.yml`` rule file with each ``runbook_url`` on ``runbook_base_url``; with
    ``fast_for``, shorten each alert's ``for:``; with ``range_at_most``, cut every range
    selector of the expressions to at most that many seconds (a demo compresses minutes into
    seconds; recording-rule names keep their ``10m`` so the alerts still find them)."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    for old in dst_dir.glob("*.yml"):
        old.unlink()
    written = []
    for src in sorted(src_dir.glob("*.yml")):
        dst = dst_dir / src.name
        text = rebase_runbooks(src.read_text(encoding="utf-8"), runbook_base_url)
        if fast_for is None and range_at_most is None:
            dst.write_text(text, encoding="utf-8")
        else:
            doc = yaml.safe_load(text)
            for group in doc.get("groups", []):
                for rule in group.get("rules", []):
                    if fast_for is not None and "for" in rule:
                        rule["for"] = shorten_duration(str(rule["for"]), fast_for)
                    if range_at_most is not None:
                        rule["expr"] = shorten_rule_ranges(str(rule["expr"]), range_at_most)
            changes = []
            if fast_for is not None:
                changes.append(f"alert delays of at most {fast_for:g}s")
            if range_at_most is not None:
                changes.append(f"rule ranges of at most {range_at_most:g}s")
            header = f"# Rendered from {src} with {' and '.join(changes)}.\n"
            dst.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=200))
        written.append(dst)
    return written


def rebase_runbooks(text: str, base_url: str) -> str:
    """Rule file text with every runbook link of the deploy rules moved to ``base_url``.

    >>> rebase_runbooks(f'runbook_url: "{DEFAULT_RUNBOOK_BASE_URL}#x"', "https://wiki/rb")
    'runbook_url: "https://wiki/rb#x"'
    """
    return text.replace(f'"{DEFAULT_RUNBOOK_BASE_URL}#', f'"{base_url}#')


def prometheus_config(
    settings: Settings,
    paths: StackPaths,
    *,
    scrape_target: str,
    alertmanager_port: int,
    prometheus_port: int,
    extra_jobs: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The local Prometheus configuration: loopback targets, the rendered rule files, and
    ``extra_jobs`` (job name to ``host:port``, e.g. the ingestion worker)."""
    extra = [
        {"job_name": job, "static_configs": [{"targets": [target]}]}
        for job, target in (extra_jobs or {}).items()
    ]
    return {
        "global": {
            "scrape_interval": settings.scrape_interval,
            "evaluation_interval": settings.evaluation_interval,
            "scrape_timeout": _scrape_timeout(settings.scrape_interval),
        },
        "rule_files": [str(paths.rules_dir / "*.yml")],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
        },
        "scrape_configs": [
            {
                "job_name": "inferwatch",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [scrape_target]}],
            },
            {
                "job_name": "alertmanager",
                "static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}],
            },
            {
                "job_name": "prometheus",
                "static_configs": [{"targets": [f"127.0.0.1:{prometheus_port}"]}],
            },
            *extra,
        ],
    }


def _scrape_timeout(interval: str) -> str:
    seconds = parse_duration(interval)
    return f"{max(int(seconds * 800), 500)}ms" if seconds < 10 else "10s"


def alertmanager_config(
    settings: Settings,
    deploy_config: Mapping[str, Any],
    paths: StackPaths,
    *,
    webhook_url: str,
    fast: bool,
) -> dict[str, Any]:
    """The deploy Alertmanager configuration made local.

    The webhook points at ``webhook_url``; Slack stays only with ``slack_api_url_file`` set,
    email only with ``smtp_smarthost`` and ``smtp_to`` set (the password from
    ``smtp_password_file``). Routing and inhibition are unchanged.
    """
    config: dict[str, Any] = yaml.safe_load(yaml.safe_dump(dict(deploy_config)))
    config["templates"] = [str(paths.templates_dir / "*.tmpl")]
    glob = config.setdefault("global", {})
    for key in [k for k in glob if k.startswith("smtp_")]:
        del glob[key]
    email = settings.smtp_smarthost is not None and settings.smtp_to is not None
    if email:
        glob["smtp_smarthost"] = settings.smtp_smarthost
        glob["smtp_from"] = settings.smtp_from
        glob["smtp_require_tls"] = settings.smtp_require_tls
        if settings.smtp_username:
            glob["smtp_auth_username"] = settings.smtp_username
        if settings.smtp_password_file is not None:
            glob["smtp_auth_password_file"] = str(settings.smtp_password_file.resolve())
    slack_file = settings.slack_api_url_file
    token = settings.resolved_api_token()
    token_file = paths.root / "webhook_token"
    if token is not None:
        # the service wants its bearer token on /alerts: Alertmanager reads it from a file
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.touch(mode=0o600)
        token_file.chmod(0o600)  # a file left by an older run may have a wider mode
        token_file.write_text(token, encoding="utf-8")
    for receiver in config.get("receivers", []):
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_url
            hook.pop("http_config", None)  # the deploy file's is for compose's paths
            if token is not None:
                hook["http_config"] = {
                    "authorization": {"type": "Bearer", "credentials_file": str(token_file)}
                }
        if slack_file is None:
            receiver.pop("slack_configs", None)
        for slack in receiver.get("slack_configs", []):
            slack["api_url_file"] = str(slack_file.resolve()) if slack_file else None
            slack["channel"] = settings.slack_channel
        if not email:
            receiver.pop("email_configs", None)
        for mail in receiver.get("email_configs", []):
            mail["to"] = settings.smtp_to
    if fast:
        route = config["route"]
        route.update(group_wait="1s", group_interval="2s", repeat_interval="1m")
    return config


def render_templates(src_dir: Path, dst_dir: Path, dashboard_url: str) -> None:
    """Copy the notification templates with the dashboard link pointing at this service."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    for src in sorted(src_dir.glob("*.tmpl")):
        text = src.read_text(encoding="utf-8")
        text = re.sub(
            r'(\{\{ define "inferwatch\.dashboard_url" \}\}).*?(\{\{ end \}\})',
            lambda m: m.group(1) + dashboard_url + m.group(2),
            text,
        )
        (dst_dir / src.name).write_text(text, encoding="utf-8")


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
    "INSTALL_HINT",
    "LocalStack",
    "MissingBinaryError",
    "ProcessStatus",
    "StackError",
    "StackPaths",
    "alertmanager_config",
    "find_binary",
    "parse_duration",
    "prometheus_config",
    "rebase_runbooks",
    "render_rules",
    "render_templates",
    "shorten_duration",
    "shorten_rule_ranges",
]
