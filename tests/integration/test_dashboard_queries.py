"""Every PromQL expression the dashboards run, against a real Prometheus scraping the real
service after simulated traffic: each must be valid and return data. A classifier (iris)
answers the classifier's dashboards and named queries; a regression model answers
*Model overview (regression)* and the regression queries.

Prometheus and Alertmanager come from the local stack runner (``inferwatch.local.stack``) with the
repository's rule files, alert ``for:`` durations cut to 1 s and a 1 s scrape interval.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tools.dashboards as grafana
from tests.support.regression import house_rows, write_regression_model_dir
from tests.support.waiting import free_port, wait_until

from inferwatch.local.stack import LocalStack
from inferwatch.server.dashboard import QUERIES

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules"
DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
REGRESSION_DASHBOARDS = {"model-regression.json"}
"""Dashboards of a regression model; every other one is checked with the classifier."""

# Expressions that are valid but legitimately empty here, by a substring, with the reason.
NO_DATA_HERE = {
    "inferwatch_source_": "no data-lake source runs in this test (ingestion has its own tests)",
    "source:inferwatch_source_": "recorded from the data-lake metrics above",
    "inferwatch_retraining_runs_total": "no retraining run happens in this test",
}


class Prometheus:
    """Queries against the stack's Prometheus."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> dict[str, Any]:
        resp = httpx.get(self.url + "/api/v1/query", params={"query": expr}, timeout=10)
        body: dict[str, Any] = resp.json()
        return body


def iris_rows(n: int, rng: np.random.Generator, shift: float = 0.0) -> tuple[list[dict], list]:
    from inferwatch.lifecycle.examples import load_example_frame

    features, target = load_example_frame("iris")
    idx = rng.integers(0, len(features), n)
    frame = features.iloc[idx].copy()
    frame["petal_length"] += shift
    return frame.to_dict(orient="records"), list(target.iloc[idx])


def send_traffic(client: httpx.Client, rng: np.random.Generator) -> None:
    """Normal traffic with labels, some refused requests, out-of-range values, then drift."""
    for _ in range(6):
        rows, labels = iris_rows(50, rng)
        resp = client.post("/predict", json={"instances": rows})
        assert resp.status_code == 200, resp.text
        ids = resp.json()["ids"]
        fb = client.post(
            "/feedback",
            json={"labels": [{"id": i, "label": y} for i, y in zip(ids, labels, strict=True)]},
        )
        assert fb.status_code == 200, fb.text
    for bad in ({"instances": [{"sepal_length": "wide"}]}, {"nothing": 1}, [1, 2]):
        assert 400 <= client.post("/predict", json=bad).status_code < 500
    rows, _ = iris_rows(20, rng)
    for row in rows:
        row["sepal_width"] = 99.0
    assert client.post("/predict", json={"instances": rows}).status_code == 200
    rows, _ = iris_rows(300, rng, shift=3.0)
    for start in range(0, 300, 100):
        assert client.post("/predict", json={"instances": rows[start : start + 100]}).is_success


@pytest.fixture
def stack(service: Callable[..., Any]) -> Iterator[tuple[Any, Prometheus]]:
    """The service, then the local stack (Prometheus + Alertmanager, alert delays cut to
    1 s, 1 s scrapes) scraping it, then the traffic."""
    prom_port, am_port = free_port(), free_port()
    svc = service(
        prometheus_url=f"http://127.0.0.1:{prom_port}",
        alertmanager_url=f"http://127.0.0.1:{am_port}",
        prometheus_port=prom_port,
        alertmanager_port=am_port,
        scrape_interval="1s",
        evaluation_interval="1s",
        min_window_rows=50,
        min_labels=10,
    )
    target = svc.url.removeprefix("http://")
    with LocalStack(svc.settings, fast=True, fast_for=1.0, scrape_target=target) as local:
        prom = Prometheus(local.prometheus_url)
        wait_until(lambda: prom.query('up{job="inferwatch"} == 1')["data"]["result"], 30, "scraped")
        send_traffic(svc.client, np.random.default_rng(7))
        yield svc, prom


def promql_regex(value: str) -> str:
    """A literal value as a regex inside a PromQL string (as Grafana writes one)."""
    return re.escape(value).replace("\\", "\\\\")


def substitute(expr: str, model: str, instance: str) -> str:
    return (
        expr.replace("$__rate_interval", "1m")
        .replace("$__range", "10m")
        .replace("$model", promql_regex(model))
        .replace("$instance", promql_regex(instance))
        .replace("$feature", ".*")
        .replace("$source", ".*")
    )


def expressions(task: str = "classification") -> list[tuple[str, str]]:
    """Every expression of the task's dashboards (variables included) and named queries."""
    out: list[tuple[str, str]] = []
    for path in DASHBOARDS:
        if (path.name in REGRESSION_DASHBOARDS) != (task == "regression"):
            continue
        model = json.loads(path.read_text())
        out += [(f"{path.name} / {title}", e) for title, e in grafana.expressions(model)]
        for var in model["templating"]["list"]:
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", var["definition"])
            assert m, var["definition"]
            out.append((f"{path.name} / ${var['name']}", f"count by ({m.group(2)}) ({m.group(1)})"))
    out += [(f"/api/query?name={name}", q.expr) for name, q in task_queries(task).items()]
    return out


def task_queries(task: str) -> dict[str, Any]:
    return {name: q for name, q in QUERIES.items() if q.task in (None, task)}


def no_data_reason(expr: str) -> str | None:
    return next((why for key, why in NO_DATA_HERE.items() if key in expr), None)


def test_every_dashboard_expression_is_valid_and_returns_data(
    stack: tuple[Any, Prometheus],
) -> None:
    svc, prom = stack
    instance = svc.url.removeprefix("http://")
    model = svc.client.get("/api/snapshot").json()["model"]
    exprs = [(where, substitute(e, model, instance)) for where, e in expressions()]
    assert len(exprs) > 60

    # Wait for what the slowest panels need: recording rules over counters and a firing alert.
    for ready in (
        'ALERTS{alertstate="firing", alertname="FeatureDriftDetected"}',
        "model:inferwatch_model_accuracy:ratio_rate10m",
        "model_feature:inferwatch_feature_psi:rate10m",
        "model:inferwatch_data_quality_issues:ratio_rate10m",
    ):
        wait_until(lambda e=ready: prom.query(e)["data"]["result"], 60, ready)
    assert_all_answer(prom, exprs)


def assert_all_answer(prom: Prometheus, exprs: list[tuple[str, str]]) -> None:
    """Each expression parses and returns data (within a bounded wait for the last rates)."""

    def problems() -> list[str]:
        out = []
        for where, expr in exprs:
            body = prom.query(expr)
            if body.get("status") != "success":
                out.append(f"{where}: invalid: {body.get('error')}\n    {expr}")
            elif not body["data"]["result"] and no_data_reason(expr) is None:
                out.append(f"{where}: no data\n    {expr}")
        return out

    # Rates need two scrapes after the traffic; give the last few series a bounded wait.
    deadline = time.monotonic() + 30
    found = problems()
    while found and time.monotonic() < deadline:
        time.sleep(1)
        found = problems()
    assert not found, "\n".join(found)


def test_named_queries_answer_through_the_service(stack: tuple[Any, Prometheus]) -> None:
    svc, prom = stack
    wait_until(lambda: prom.query('ALERTS{alertstate="firing"}')["data"]["result"], 60, "an alert")
    assert_named_queries_answer(svc, "classification")


def assert_named_queries_answer(svc: Any, task: str) -> None:
    def empty_names() -> list[str]:
        out = []
        for name in task_queries(task):
            body = svc.client.get("/api/query", params={"name": name, "range": "5m"}).json()
            assert body["prometheus"] == "ok", body
            if not any(v is not None for s in body["series"] for _, v in s["values"]):
                out.append(name)
        return out

    wait_until(lambda: empty_names() == [], 30, "every named query has data")
    refused = svc.client.get("/api/query", params={"name": "up"})
    assert refused.status_code == 400 and "name" in refused.json()["detail"]
    arbitrary = svc.client.get("/api/query", params={"name": "accuracy", "query": "up"})
    assert arbitrary.json()["name"] == "accuracy", "extra parameters never reach Prometheus"


# --------------------------------------------------------------------------- regression


def send_regression_traffic(client: httpx.Client, rng: np.random.Generator) -> None:
    """Healthy rows with their prices, a refused request, then rows whose true prices are far
    from what the model predicts (its MAE passes twice the baseline)."""

    def send(n: int, *, shift: float = 0.0, error: float = 0.0) -> None:
        rows, prices = house_rows(n, rng, shift=shift, error=error)
        resp = client.post("/predict", json={"instances": rows})
        assert resp.status_code == 200, resp.text
        labels = [{"id": i, "label": y} for i, y in zip(resp.json()["ids"], prices, strict=True)]
        fb = client.post("/feedback", json={"labels": labels})
        assert fb.status_code == 200, fb.text

    for _ in range(2):
        send(50)
    assert 400 <= client.post("/predict", json={"instances": [{"rooms": "many"}]}).status_code < 500
    for _ in range(4):
        send(50, shift=40.0, error=60.0)


@pytest.fixture
def regression_stack(
    service: Callable[..., Any], tmp_path: Path
) -> Iterator[tuple[Any, Prometheus]]:
    """A regression model served and scraped like ``stack``, after regression traffic."""
    prom_port, am_port = free_port(), free_port()
    svc = service(
        model_dir=write_regression_model_dir(tmp_path / "houses"),
        prometheus_url=f"http://127.0.0.1:{prom_port}",
        alertmanager_url=f"http://127.0.0.1:{am_port}",
        prometheus_port=prom_port,
        alertmanager_port=am_port,
        scrape_interval="1s",
        evaluation_interval="1s",
        min_window_rows=50,
        min_labels=10,
    )
    assert svc.client.get("/api/snapshot").json()["task"] == "regression"
    target = svc.url.removeprefix("http://")
    with LocalStack(svc.settings, fast=True, fast_for=1.0, scrape_target=target) as local:
        prom = Prometheus(local.prometheus_url)
        wait_until(lambda: prom.query('up{job="inferwatch"} == 1')["data"]["result"], 30, "scraped")
        send_regression_traffic(svc.client, np.random.default_rng(11))
        # The ratio the regression alerts use, and the critical alert it raises.
        wait_until(
            lambda: prom.query('ALERTS{alertstate="firing", alertname="ModelErrorCritical"}')[
                "data"
            ]["result"],
            60,
            "ModelErrorCritical firing",
        )
        yield svc, prom


def test_regression_dashboard_expressions_are_valid_and_return_data(
    regression_stack: tuple[Any, Prometheus],
) -> None:
    svc, prom = regression_stack
    instance = svc.url.removeprefix("http://")
    exprs = [(w, substitute(e, "houses", instance)) for w, e in expressions("regression")]
    assert any("reference_ratio" in e for _, e in exprs)
    assert any("inferwatch_model_reference_performance" in e for _, e in exprs)
    assert_all_answer(prom, exprs)

    # The panels show the service's own numbers: live MAE and the baseline from init.
    snap = svc.client.get("/api/snapshot").json()
    baseline = snap["service"]["model"]["reference_performance"]["mae"]
    ratio = prom.query('model:inferwatch_model_mean_absolute_error:reference_ratio{model="houses"}')
    value = float(ratio["data"]["result"][0]["value"][1])
    assert value == pytest.approx(snap["performance"]["mae"] / baseline, rel=1e-6)
    assert value > 2


def test_regression_named_queries_answer_through_the_service(
    regression_stack: tuple[Any, Prometheus],
) -> None:
    svc, _ = regression_stack
    assert {"mae", "rmse"} <= set(task_queries("regression"))
    assert_named_queries_answer(svc, "regression")
    body = svc.client.get("/api/query", params={"name": "mae", "range": "5m"}).json()
    shown = [v for s in body["series"] for _, v in s["values"] if v is not None][-1]
    assert shown == pytest.approx(svc.client.get("/api/snapshot").json()["performance"]["mae"])
