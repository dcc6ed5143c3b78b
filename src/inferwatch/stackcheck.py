"""What a started Prometheus actually loaded, checked against what the stack runner rendered.

Prometheus starts and answers ``/-/ready`` even when its ``rule_files`` glob matches nothing
(a relative path is resolved against the folder of the config file), and then raises no alert
at all. So after start-up the stack runner asks ``/api/v1/rules`` whether every rendered rule
file's groups are there with at least one rule, and ``/api/v1/targets`` whether every expected
scrape job is there, and refuses to report success otherwise.

>>> rules = {"data": {"groups": [{"file": "/s/a.yml", "name": "g1", "rules": [{}]}]}}
>>> targets = {"data": {"activeTargets": [{"labels": {"job": "inferwatch"}}]}}
>>> load_problems(rules, targets, {"/s/a.yml": ["g1"]}, ["inferwatch"])
[]
>>> load_problems({"data": {"groups": []}}, targets, {"/s/a.yml": ["g1"]}, ["inferwatch", "x"])
['no rules loaded from /s/a.yml', 'no scrape target for job x']
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml


def rule_groups(files: Sequence[Path]) -> dict[str, list[str]]:
    """Each rule file's absolute path and the names of the groups it defines."""
    out: dict[str, list[str]] = {}
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        out[str(path.resolve())] = [str(g["name"]) for g in doc.get("groups", [])]
    return out


def load_problems(
    rules: Mapping[str, Any],
    targets: Mapping[str, Any],
    expected_groups: Mapping[str, Sequence[str]],
    expected_jobs: Sequence[str],
) -> list[str]:
    """What is missing from Prometheus's ``/api/v1/rules`` and ``/api/v1/targets`` answers:
    a rule file none of whose groups is loaded, a group missing or without rules, a job
    without a target. Empty when everything expected is there."""
    loaded: dict[tuple[str, str], int] = {}
    for group in rules.get("data", {}).get("groups", []):
        key = (str(group.get("file", "")), str(group.get("name", "")))
        loaded[key] = loaded.get(key, 0) + len(group.get("rules", []))
    problems = []
    for file, groups in expected_groups.items():
        counts = [loaded.get((file, name)) for name in groups]
        if not groups or all(c is None for c in counts):
            problems.append(f"no rules loaded from {file}")
            continue
        missing = [n for n, c in zip(groups, counts, strict=True) if c is None]
        empty = [n for n, c in zip(groups, counts, strict=True) if c == 0]
        if missing:
            problems.append(f"rule group(s) {', '.join(missing)} of {file} not loaded")
        if empty:
            problems.append(f"rule group(s) {', '.join(empty)} of {file} hold no rules")
    jobs = {
        str(t.get("labels", {}).get("job", ""))
        for t in targets.get("data", {}).get("activeTargets", [])
    }
    problems += [f"no scrape target for job {job}" for job in expected_jobs if job not in jobs]
    return problems


def _get(client: httpx.Client, url: str) -> Mapping[str, Any]:
    try:
        response = client.get(url)
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def check_prometheus(
    prometheus_url: str,
    expected_groups: Mapping[str, Sequence[str]],
    expected_jobs: Sequence[str],
    *,
    timeout: float = 15.0,
) -> list[str]:
    """Ask the running Prometheus until it has loaded everything expected or ``timeout``
    seconds pass (targets appear a moment after the config is applied); returns the
    problems left, empty when all is there."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5.0) as client:
        while True:
            problems = load_problems(
                _get(client, f"{prometheus_url}/api/v1/rules"),
                _get(client, f"{prometheus_url}/api/v1/targets"),
                expected_groups,
                expected_jobs,
            )
            if not problems or time.monotonic() > deadline:
                return problems
            time.sleep(0.2)


__all__ = ["check_prometheus", "load_problems", "rule_groups"]
