"""The local stack's configuration: ``deploy/prometheus`` and ``deploy/alertmanager`` rendered
for one machine into ``<data_dir>/stack/``.

Scrape targets and the webhook move to 127.0.0.1, the rule files are copied (runbook links
rebased), Slack and email stay only when their secrets are configured. With a ``fast_for``
every alert ``for:`` is shortened to at most that many seconds, and with a range limit every
range selector of the rule expressions, so a demo or a test sees an incident cycle in
minutes; the files in ``deploy/`` keep the production values. The runner that starts the
children on these files is :mod:`inferwatch.local.stack`.

>>> shorten_duration("5m", 10)
'10s'
>>> shorten_duration("5s", 10)
'5s'
>>> shorten_duration("1m", 2.5)
'2500ms'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from inferwatch.settings import DEFAULT_RUNBOOK_BASE_URL, Settings

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


def default_deploy_dir() -> Path:
    """``deploy/`` of the source tree this package runs from."""
    return Path(__file__).resolve().parents[3] / "deploy"


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


__all__ = [
    "StackPaths",
    "alertmanager_config",
    "default_deploy_dir",
    "parse_duration",
    "prometheus_config",
    "rebase_runbooks",
    "render_rules",
    "render_templates",
    "shorten_duration",
    "shorten_rule_ranges",
]
