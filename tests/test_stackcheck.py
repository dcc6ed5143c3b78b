"""The check of what a started Prometheus loaded, on its API answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inferwatch.stackcheck import load_problems, rule_groups


def _rules(*groups: tuple[str, str, int]) -> dict[str, Any]:
    return {
        "data": {
            "groups": [{"file": f, "name": n, "rules": [{}] * count} for f, n, count in groups]
        }
    }


def _targets(*jobs: str) -> dict[str, Any]:
    return {"data": {"activeTargets": [{"labels": {"job": j}} for j in jobs]}}


EXPECTED = {"/r/alerts.yml": ["a", "b"], "/r/recording.yml": ["rec"]}


def test_load_problems_none_when_everything_is_loaded() -> None:
    rules = _rules(
        ("/r/alerts.yml", "a", 3), ("/r/alerts.yml", "b", 1), ("/r/recording.yml", "rec", 2)
    )
    assert load_problems(rules, _targets("inferwatch", "x"), EXPECTED, ["inferwatch"]) == []


def test_load_problems_names_missing_files_groups_empty_groups_and_jobs() -> None:
    rules = _rules(("/r/alerts.yml", "a", 0))
    problems = load_problems(rules, _targets("prometheus"), EXPECTED, ["inferwatch", "prometheus"])
    assert problems == [
        "rule group(s) b of /r/alerts.yml not loaded",
        "rule group(s) a of /r/alerts.yml hold no rules",
        "no rules loaded from /r/recording.yml",
        "no scrape target for job inferwatch",
    ]


def test_load_problems_on_an_unanswered_api_lists_everything() -> None:
    problems = load_problems({}, {}, EXPECTED, ["inferwatch"])
    assert len(problems) == 3


def test_rule_groups_reads_group_names_by_absolute_path(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.yml").write_text(
        "groups:\n  - name: one\n    rules: []\n  - name: two\n    rules: []\n"
    )
    assert rule_groups([Path("a.yml")]) == {str(tmp_path / "a.yml"): ["one", "two"]}
