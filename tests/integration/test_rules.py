"""The Prometheus configuration and rules, checked by the real ``promtool``."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from inferwatch.core.drift import chi2_sf, chi2_test, psi
from inferwatch.settings import DEFAULT_RUNBOOK_BASE_URL

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PROM = REPO / "deploy" / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
TEST_FILES = sorted((PROM / "tests").glob("*.yml"))
RUNBOOKS = REPO / "docs" / "runbooks.md"

# The alert catalogue of the design (names are a contract with dashboards and runbooks).
CATALOGUE = {
    "InferwatchTargetDown": "critical",
    "InferwatchTargetMissing": "critical",
    "ModelAccuracyLow": "warning",
    "ModelAccuracyCritical": "critical",
    "ModelAccuracyBelowBaseline": "warning",
    "ModelEstimatedAccuracyBelowBaseline": "warning",
    "FeatureDriftDetected": "warning",
    "PredictionDriftDetected": "warning",
    "DataQualityDegraded": "warning",
    "PredictionFailureRateHigh": "critical",
    "HighErrorRate": "warning",
    "HighPredictionLatency": "warning",
    "PredictionLatencyCritical": "critical",
    "HighCPUUsage": "warning",
    "HighMemoryUsage": "warning",
    "DataLakeUnavailable": "critical",
    "HighIngestionDelay": "warning",
    "LabelsMissing": "info",
    "RetrainingFailed": "warning",
    # regression models (rules/regression.yml)
    "ModelErrorHigh": "warning",
    "ModelErrorCritical": "critical",
    "ModelLargeErrorsIncreasing": "info",
}


def promtool(*args: str | Path, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail("promtool is missing: sudo apt-get install prometheus")
    return subprocess.run(
        [exe, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def rules() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend(group["rules"])
    return out


def alert_rules() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in rules() if "alert" in r}


def test_prometheus_config_is_valid() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_files_are_valid() -> None:
    result = promtool("check", "rules", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", *TEST_FILES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES)


def test_every_catalogue_alert_exists_with_its_severity() -> None:
    found = {name: rule["labels"]["severity"] for name, rule in alert_rules().items()}
    assert found == CATALOGUE


def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_has_annotations_and_a_runbook_section() -> None:
    anchors = {
        _slug(line.lstrip("#"))
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("## ")
    }
    for name, rule in alert_rules().items():
        ann = rule["annotations"]
        assert ann["summary"] and "$value" in ann["description"], name
        assert "model" not in rule["expr"] or "$labels.model" in ann["summary"], name
        page, _, anchor = ann["runbook_url"].partition("#")
        assert page == DEFAULT_RUNBOOK_BASE_URL and anchor == name.lower(), name
        assert anchor in anchors, f"docs/runbooks.md has no section for {name}"


def test_every_alert_waits_before_it_fires() -> None:
    """A `for:` on every alert: one bad scrape or one 503 never pages."""
    for name, rule in alert_rules().items():
        assert "for" in rule and rule["for"] not in ("0s", "0m"), name


_GROUPING = re.compile(r"\b(by|on)\s*\(([^)]*)\)")


def test_every_aggregation_keeps_the_target_labels() -> None:
    """`by (...)`/`on (...)` keep cluster, namespace and job (absent labels cost nothing), so
    two deployments of a model with the same name never merge into one series or alert."""
    for rule in rules():
        for keyword, labels in _GROUPING.findall(rule["expr"]):
            kept = {label.strip() for label in labels.split(",")}
            assert {"cluster", "namespace", "job"} <= kept, (rule.get("record"), keyword, labels)


def _unit_tests() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in TEST_FILES:
        out.extend(yaml.safe_load(path.read_text())["tests"])
    return out


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in _unit_tests():
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    every = set(alert_rules())
    assert firing >= every, every - firing
    assert quiet >= every, every - quiet


def test_every_recording_rule_has_a_unit_test() -> None:
    exprs = " ".join(
        check["expr"] for case in _unit_tests() for check in case.get("promql_expr_test", [])
    )
    untested = [r["record"] for r in rules() if "record" in r and r["record"] not in exprs]
    assert untested == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cross_replica_psi_rule_matches_the_core(tmp_path: Path, seed: int) -> None:
    """Random per-replica bin counts: the recording rules' PSI and chi-square statistic equal
    inferwatch.core.drift.psi and chi2_test of the summed counts (empty bins included), and
    the noise guard's critical value is the p = 0.0001 point of its degrees of freedom."""
    rng = np.random.default_rng(seed)
    bins = 10
    reference = rng.dirichlet(np.ones(bins))
    reference[rng.integers(bins)] = 0.0  # a bin the reference never saw
    reference /= reference.sum()
    reference_rows = int(rng.integers(100, 5000))
    per_minute = rng.integers(0, 30, size=(3, bins))  # three replicas
    per_minute[:, rng.integers(bins)] = 0  # a bin the live window never saw
    live = per_minute.sum(axis=0) * 10
    expected = psi(reference, live)
    statistic, _ = chi2_test(reference * reference_rows, live)
    dof = int(np.count_nonzero(reference * reference_rows + live)) - 1

    series: list[dict[str, str]] = []
    for replica, counts in enumerate(per_minute):
        for b in range(bins):
            labels = (
                f'job="inferwatch",instance="r{replica}:8000",model="m",model_version="1",'
                f'feature="x",bin="b{b}"'
            )
            series.append(
                {
                    "series": f"inferwatch_feature_bin_observations_total{{{labels}}}",
                    "values": f"0+{int(counts[b])}x20",
                }
            )
            series.append(
                {
                    "series": f"inferwatch_feature_reference_bin_ratio{{{labels}}}",
                    "values": f"{float(reference[b])!r}x20",
                }
            )
        series.append(
            {
                "series": (
                    f'inferwatch_feature_reference_rows{{job="inferwatch",instance="r{replica}:8000",'
                    'model="m",model_version="1",feature="x"}'
                ),
                "values": f"{reference_rows}x20",
            }
        )
    test = {
        "rule_files": [str(PROM / "rules" / "recording.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    _close(f"model_feature:inferwatch_feature_psi:rate10m - {expected!r}", 1e-9),
                    _close(
                        f"model_feature:inferwatch_feature_chi2:rate10m / {statistic!r} - 1", 1e-9
                    ),
                    _close(f"model_feature:inferwatch_feature_chi2_dof:rate10m - {dof}", 0),
                ],
            }
        ],
    }
    path = tmp_path / "psi.yml"
    path.write_text(yaml.safe_dump(test))
    result = promtool("test", "rules", path, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _close(difference: str, tolerance: float) -> dict[str, Any]:
    """A promtool check that ``difference`` (an expression of the one test feature) is within
    ``tolerance`` of zero."""
    return {
        "expr": f"abs({difference}) <= bool {tolerance!r}",
        "eval_time": "10m",
        "exp_samples": [
            {"labels": '{job="inferwatch",model="m",model_version="1",feature="x"}', "value": 1}
        ],
    }


def _chi2_isf(dof: int, tail: float) -> float:
    """The point of the chi-square distribution with ``dof`` degrees of freedom whose upper
    tail is ``tail`` (bisection on the core's survival function)."""
    lo, hi = 0.0, 1000.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if chi2_sf(dof, mid) > tail else (lo, mid)
    return lo


def test_noise_guard_critical_value_is_the_cores_alpha(tmp_path: Path) -> None:
    """For 1 to 60 degrees of freedom the rule's critical value lies between the exact
    chi-square points of p = 0.0001 (the core's alpha) and p = 0.00005: never looser than the
    service's guard, at most a little stricter."""
    groups = yaml.safe_load((PROM / "rules" / "recording.yml").read_text())["groups"]
    critical = next(
        r["expr"]
        for g in groups
        for r in g["rules"]
        if r.get("record") == "model_feature:inferwatch_feature_chi2_critical:rate10m"
    )
    checks = []
    for k in range(1, 61):
        expr = critical.replace(
            "model_feature:inferwatch_feature_chi2_dof:rate10m", f'dof_input{{feature="f{k}"}}'
        )
        low, high = _chi2_isf(k, 1e-4), _chi2_isf(k, 0.5e-4)
        checks.append(
            {
                "expr": f"(({expr}) > bool {low!r}) + (({expr}) < bool {high!r})",
                "eval_time": "10m",
                "exp_samples": [{"labels": f'{{feature="f{k}"}}', "value": 2}],
            }
        )
    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f'dof_input{{feature="f{k}"}}', "values": f"{k}x20"}
                    for k in range(1, 61)
                ],
                "promql_expr_test": checks,
            }
        ],
    }
    path = tmp_path / "critical.yml"
    path.write_text(yaml.safe_dump(test))
    result = promtool("test", "rules", path, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
