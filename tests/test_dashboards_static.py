"""The Grafana provisioning and dashboards, and the built-in dashboard's query allow-list,
checked as data: they load, they are consistent, and every metric they read exists."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferwatch import grafana
from inferwatch.server.dashboard import QUERIES

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"

# The metric catalogue (docs/metrics: namespace inferwatch_); histograms expand below.
COUNTERS = {
    "inferwatch_http_requests_total",
    "inferwatch_inference_rows_total",
    "inferwatch_inference_errors_total",
    "inferwatch_predictions_total",
    "inferwatch_data_quality_issues_total",
    "inferwatch_feature_bin_observations_total",
    "inferwatch_labeled_predictions_total",
    "inferwatch_feedback_total",
    "inferwatch_source_requests_total",
    "inferwatch_retraining_runs_total",
}
GAUGES = {
    "inferwatch_http_requests_in_progress",
    "inferwatch_feature_reference_bin_ratio",
    "inferwatch_feature_drift_score",
    "inferwatch_feature_drift_detected",
    "inferwatch_prediction_drift_score",
    "inferwatch_window_rows",
    "inferwatch_model_accuracy_ratio",
    "inferwatch_model_precision_ratio",
    "inferwatch_model_recall_ratio",
    "inferwatch_model_f1_ratio",
    "inferwatch_model_estimated_accuracy_ratio",
    "inferwatch_model_mean_absolute_error",
    "inferwatch_model_root_mean_squared_error",
    "inferwatch_model_reference_performance",
    "inferwatch_model_info",
    "inferwatch_source_last_success_timestamp_seconds",
    "inferwatch_system_cpu_usage_ratio",
    "inferwatch_system_memory_usage_ratio",
    "inferwatch_system_disk_usage_ratio",
    "inferwatch_container_cpu_usage_ratio",
    "inferwatch_container_cpu_limit_cores",
    "inferwatch_container_memory_working_set_bytes",
    "inferwatch_container_memory_limit_bytes",
    "inferwatch_container_memory_usage_ratio",
}
HISTOGRAMS = {
    "inferwatch_http_request_duration_seconds",
    "inferwatch_inference_duration_seconds",
    "inferwatch_prediction_confidence_ratio",
    "inferwatch_feedback_delay_seconds",
    "inferwatch_source_request_duration_seconds",
}
BUILTINS = {
    "ALERTS",
    "ALERTS_FOR_STATE",
    "up",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_start_time_seconds",
}
CATALOGUE = (
    COUNTERS
    | GAUGES
    | BUILTINS
    | {f"{h}{s}" for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}
)

PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}


def recording_rules() -> set[str]:
    names: set[str] = set()
    for path in sorted(RULES_DIR.glob("*.y*ml")) if RULES_DIR.is_dir() else []:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in doc.get("groups", []):
            names.update(r["record"] for r in group.get("rules", []) if "record" in r)
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (not functions, labels, keywords or numbers).

    >>> sorted(metric_names('sum by (le) (rate(a_total{x="b c"}[1m])) / ignoring (y) up'))
    ['a_total', 'up']
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text
    )  # label lists
    text = re.sub(r"(?<![\w:])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?:ms|[smhdwy])?", " ", text)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = m.group(0)
        after = text[m.end() :].lstrip()
        if after.startswith("(") or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def all_panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    out, stack = [], list(model["panels"])
    while stack:
        p = stack.pop(0)
        out.append(p)
        stack.extend(p.get("panels", []))
    return out


def test_dashboard_files_are_the_generators_output() -> None:
    rendered = {name: grafana.render(model) for name, model in grafana.dashboards().items()}
    assert sorted(rendered) == [p.name for p in DASHBOARD_FILES]
    for path in DASHBOARD_FILES:
        assert path.read_text(encoding="utf-8") == rendered[path.name], (
            f"{path.name} is stale: run python -m inferwatch.grafana"
        )


def test_four_dashboards_with_stable_unique_uids() -> None:
    uids = {p.name: load(p)["uid"] for p in DASHBOARD_FILES}
    assert uids == {
        "drift-quality.json": "inferwatch-drift-quality",
        "model-overview.json": "inferwatch-model-overview",
        "model-regression.json": "inferwatch-model-regression",
        "service.json": "inferwatch-service",
    }


def test_provisioned_datasource_uid_is_the_one_panels_use() -> None:
    ds_files = sorted((GRAFANA / "provisioning" / "datasources").glob("*.yml"))
    assert ds_files
    sources = [s for f in ds_files for s in yaml.safe_load(f.read_text())["datasources"]]
    assert [(s["uid"], s["type"]) for s in sources] == [(grafana.DATASOURCE_UID, "prometheus")]
    for path in DASHBOARD_FILES:
        model = load(path)
        for p in all_panels(model):
            if p["type"] == "row":
                continue
            assert p["datasource"]["uid"] == grafana.DATASOURCE_UID, (path.name, p["title"])
            for t in p["targets"]:
                assert t["datasource"]["uid"] == grafana.DATASOURCE_UID, (path.name, p["title"])
        for v in model["templating"]["list"]:
            assert v["datasource"]["uid"] == grafana.DATASOURCE_UID


def test_dashboard_provider_points_at_the_mounted_dashboards() -> None:
    files = sorted((GRAFANA / "provisioning" / "dashboards").glob("*.yml"))
    assert files
    providers = [p for f in files for p in yaml.safe_load(f.read_text())["providers"]]
    assert [p["type"] for p in providers] == ["file"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{providers[0]['options']['path']}:ro" in mounts


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_structure(path: Path) -> None:
    model = load(path)
    assert 39 <= model["schemaVersion"] <= 42
    assert model["title"].startswith("inferwatch / ")
    panels = all_panels(model)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels:
        if p["type"] in ("row", "text"):
            continue
        assert p["targets"], f"{p['title']} has no query"
        assert all(t["expr"].strip() for t in p["targets"]), p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        pos = p["gridPos"]
        assert pos["x"] + pos["w"] <= 24, p["title"]
    names = {v["name"] for v in model["templating"]["list"]}
    assert {"model", "instance"} <= names
    used = {m for _, e in grafana.expressions(model) for m in re.findall(r"\$(\w+)", e)}
    assert used - {"__rate_interval", "__range"} <= names, "every variable used is defined"


def test_accuracy_gauge_thresholds() -> None:
    model = load(GRAFANA / "dashboards" / "model-overview.json")
    gauge = next(p for p in all_panels(model) if p["type"] == "gauge")
    steps = gauge["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["color"], s["value"]) for s in steps] == [
        ("red", None),
        ("orange", 0.7),
        ("green", 0.8),
    ]


def alert_threshold(name: str) -> float:
    """The number an alert compares with (``... > 1.5``) in the rule files."""
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8")).get("groups", []):
            for rule in group.get("rules", []):
                if rule.get("alert") == name:
                    return float(re.findall(r">\s*([0-9.]+)", rule["expr"])[0])
    raise AssertionError(f"no alert {name}")


def test_regression_ratio_panels_colour_at_the_alert_levels() -> None:
    model = load(GRAFANA / "dashboards" / "model-regression.json")
    levels = [alert_threshold("ModelErrorHigh"), alert_threshold("ModelErrorCritical")]
    assert levels == [1.5, 2.0]
    ratio_panels = [
        p
        for p in all_panels(model)
        if "reference_ratio" in " ".join(t["expr"] for t in p.get("targets", []))
    ]
    assert {p["title"] for p in ratio_panels} == {
        "MAE / baseline",
        "RMSE / baseline",
        "Error to baseline ratio",
    }
    for p in ratio_panels:
        steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [(s["color"], s["value"]) for s in steps] == [
            ("green", None),
            ("orange", levels[0]),
            ("red", levels[1]),
        ], p["title"]
    line = next(p for p in ratio_panels if p["type"] == "timeseries")
    assert line["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"


def test_panels_of_one_task_say_so() -> None:
    """A classifier's panels on the overview and every performance panel of the regression
    dashboard name their task, so an empty panel explains itself."""
    overview = all_panels(load(GRAFANA / "dashboards" / "model-overview.json"))
    classifier_metrics = ("accuracy", "precision", "recall", "f1", "predictions", "confidence")
    for p in overview:
        exprs = " ".join(t["expr"] for t in p.get("targets", []))
        if any(f"_{m}" in exprs for m in classifier_metrics):
            assert p["description"].startswith("Classifiers only"), p["title"]
    regression = all_panels(load(GRAFANA / "dashboards" / "model-regression.json"))
    for p in regression:
        exprs = " ".join(t["expr"] for t in p.get("targets", []))
        if "error" in exprs and "inferwatch_model_" in exprs:
            assert p["description"].startswith("Regressors only"), p["title"]


def test_named_queries_of_one_task_read_that_tasks_metrics() -> None:
    for name, q in QUERIES.items():
        names = " ".join(metric_names(q.expr))
        if "mean_absolute_error" in names or "root_mean_squared_error" in names:
            assert q.task == "regression", name
        if any(w in names for w in ("accuracy", "precision", "recall", "f1", "predictions")):
            assert q.task == "classification", name


def test_psi_panel_draws_the_threshold_line() -> None:
    model = load(GRAFANA / "dashboards" / "drift-quality.json")
    psi = next(p for p in all_panels(model) if p["title"] == "PSI per feature")
    defaults = psi["fieldConfig"]["defaults"]
    assert defaults["custom"]["thresholdsStyle"]["mode"] != "off"
    assert 0.2 in [s["value"] for s in defaults["thresholds"]["steps"]]


def all_expressions() -> list[tuple[str, str]]:
    out = [(f"{p.name}: {t}", e) for p in DASHBOARD_FILES for t, e in grafana.expressions(load(p))]
    out += [(f"/api/query {name}", q.expr) for name, q in QUERIES.items()]
    for p in DASHBOARD_FILES:
        for v in load(p)["templating"]["list"]:
            inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", v["definition"])
            assert inner, v["definition"]
            out.append((f"{p.name}: variable {v['name']}", inner.group(1)))
    return out


@pytest.mark.parametrize("where, expr", all_expressions())
def test_every_expression_reads_known_metrics(where: str, expr: str) -> None:
    known = CATALOGUE | recording_rules()
    names = metric_names(expr)
    assert names, f"{where}: reads no metric"
    assert names <= known, f"{where}: unknown {sorted(names - known)}"


def test_catalogue_here_is_the_documented_one() -> None:
    documented = set(re.findall(r"`(inferwatch_\w+)`", (ROOT / "docs" / "metrics.md").read_text()))
    assert (COUNTERS | GAUGES | HISTOGRAMS) - documented == set()


def test_metric_name_extraction_sees_through_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, source) (rate(x_bucket{a=~"b|c"}[$__rate_interval])))'
        ' / on (job, instance) group_left (v) y_total offset 5m > bool 1e-9 and ALERTS{s="up"}'
    )
    assert metric_names(expr) == {"x_bucket", "y_total", "ALERTS"}


# --- the built-in dashboard's routes on a real service, without Prometheus

WEB = ROOT / "src" / "inferwatch" / "web" / "static"


def test_web_assets_load_nothing_from_elsewhere() -> None:
    for path in sorted(WEB.iterdir()):
        text = path.read_text(encoding="utf-8")
        refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", text)
        refs += re.findall(r"""url\(([^)]+)\)""", text)
        refs += re.findall(r"""(?:fetch|import)\(\s*["'`]([^"'`]+)""", text)
        external = [r for r in refs if re.match(r"^(https?:)?//", r)]
        assert external == [], f"{path.name} loads {external}"


@pytest.fixture
def client(service: Any) -> Any:
    """A real service whose Prometheus is unreachable (nothing listens on port 9)."""
    return service(prometheus_url="http://127.0.0.1:9").client


def test_dashboard_page_and_its_files_are_served(client: Any) -> None:
    page = client.get("/dashboard")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for ref in re.findall(r'(?:src|href)="(/dashboard/static/[^"]+)"', page.text):
        assert client.get(ref).status_code == 200, ref
    assert client.get("/dashboard/static/..%2F__init__.py").status_code == 404
    assert client.get("/dashboard/static/nothing.js").status_code == 404


def test_query_refuses_what_is_not_allow_listed(client: Any) -> None:
    unknown = client.get("/api/query", params={"name": "sum(up)"})
    assert unknown.status_code == 400 and unknown.json()["detail"].startswith("name:")
    bad_range = client.get("/api/query", params={"name": "accuracy", "range": "30d"})
    assert bad_range.status_code == 400 and bad_range.json()["detail"].startswith("range:")
    assert client.get("/api/query").status_code == 422


def test_query_says_plainly_when_prometheus_is_unreachable(client: Any) -> None:
    resp = client.get("/api/query", params={"name": "latency_p95", "range": "5m"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["prometheus"] == "unreachable" and body["series"] == []
    assert body["name"] == "latency_p95" and body["error"]
