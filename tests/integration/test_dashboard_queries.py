"""Every PromQL expression the dashboards run, against a real Prometheus scraping the real
service after simulated traffic: each must be valid and return data.

Prometheus runs from ``/usr/bin/prometheus`` with the repository's rule files (alert ``for:``
durations set to 0 so an alert fires within seconds) and a 1 s scrape interval.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from inferwatch import grafana
from inferwatch.server.dashboard import QUERIES

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules"
DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))

# Expressions that are valid but legitimately empty here, by a substring, with the reason.
NO_DATA_HERE = {
    "inferwatch_source_": "no data-lake source runs in this test (ingestion has its own tests)",
    "source:inferwatch_source_": "recorded from the data-lake metrics above",
    "inferwatch_retraining_runs_total": "no retraining run happens in this test",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def poll(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


class Prometheus:
    """``/usr/bin/prometheus`` on a free port, scraping one target every second."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, target: str) -> None:
        exe = shutil.which("prometheus")
        if exe is None:
            pytest.fail("prometheus is missing: sudo apt-get install prometheus")
        rules_dir = self.workdir / "rules"
        rules_dir.mkdir(parents=True)
        for path in sorted(RULES.glob("*.yml")):
            doc = yaml.safe_load(path.read_text())
            for group in doc["groups"]:
                for rule in group["rules"]:
                    if "alert" in rule:
                        rule["for"] = "0s"
            (rules_dir / path.name).write_text(yaml.safe_dump(doc))
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules_dir / "*.yml")],
            "scrape_configs": [
                {"job_name": "inferwatch", "static_configs": [{"targets": [target]}]}
            ],
        }
        cfg = self.workdir / "prometheus.yml"
        cfg.write_text(yaml.safe_dump(config))
        self.log = (self.workdir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                exe,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        poll(self._ready, 60, "Prometheus ready")

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError((self.workdir / "prometheus.log").read_text())
        try:
            return httpx.get(self.url + "/-/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def query(self, expr: str) -> dict[str, Any]:
        resp = httpx.get(self.url + "/api/v1/query", params={"query": expr}, timeout=10)
        body: dict[str, Any] = resp.json()
        return body

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def iris_rows(n: int, rng: np.random.Generator, shift: float = 0.0) -> tuple[list[dict], list]:
    from inferwatch.examples import load_example_frame

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
def stack(service: Callable[..., Any], tmp_path: Path) -> Iterator[tuple[Any, Prometheus]]:
    port = free_port()
    svc = service(
        prometheus_url=f"http://127.0.0.1:{port}",
        min_window_rows=50,
        min_labels=10,
    )
    prom = Prometheus(tmp_path / "prometheus", port)
    try:
        prom.start(svc.url.removeprefix("http://"))
        poll(lambda: prom.query('up{job="inferwatch"} == 1')["data"]["result"], 30, "scraped")
        send_traffic(svc.client, np.random.default_rng(7))
        yield svc, prom
    finally:
        prom.stop()


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


def expressions() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for path in DASHBOARDS:
        model = json.loads(path.read_text())
        out += [(f"{path.name} / {title}", e) for title, e in grafana.expressions(model)]
        for var in model["templating"]["list"]:
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", var["definition"])
            assert m, var["definition"]
            out.append((f"{path.name} / ${var['name']}", f"count by ({m.group(2)}) ({m.group(1)})"))
    out += [(f"/api/query?name={name}", q.expr) for name, q in QUERIES.items()]
    return out


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
        poll(lambda e=ready: prom.query(e)["data"]["result"], 60, ready)

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
    poll(lambda: prom.query('ALERTS{alertstate="firing"}')["data"]["result"], 60, "an alert")

    def empty_names() -> list[str]:
        out = []
        for name in QUERIES:
            body = svc.client.get("/api/query", params={"name": name, "range": "5m"}).json()
            assert body["prometheus"] == "ok", body
            if not any(v is not None for s in body["series"] for _, v in s["values"]):
                out.append(name)
        return out

    poll(lambda: empty_names() == [], 30, "every named query has data")
    refused = svc.client.get("/api/query", params={"name": "up"})
    assert refused.status_code == 400 and "name" in refused.json()["detail"]
    arbitrary = svc.client.get("/api/query", params={"name": "accuracy", "query": "up"})
    assert arbitrary.json()["name"] == "accuracy", "extra parameters never reach Prometheus"
