"""Two deployments of a model with the same name, in two namespaces, scraped by the real
Prometheus with the deploy rules: every alert comes twice, once per namespace, never merged."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from tests.support.waiting import free_port, wait_until

from inferwatch.local.render import default_deploy_dir, render_rules

pytestmark = pytest.mark.integration


class DriftingModel(Collector):
    """The drift families of the exporter for one model whose feature ``age`` drifted: each
    scrape counts 100 more rows, 70 of them in the last of four bins (reference 25% each, from
    1,000 rows)."""

    def __init__(self) -> None:
        self.scrapes = 0

    def collect(self) -> Iterable[Metric]:
        self.scrapes += 1
        labels = ["model", "model_version", "feature", "bin"]
        bins = CounterMetricFamily("inferwatch_feature_bin_observations", "rows", labels=labels)
        reference = GaugeMetricFamily("inferwatch_feature_reference_bin_ratio", "", labels=labels)
        for i, per_scrape in enumerate((10, 10, 10, 70)):
            key = ["census", "1", "age", f"b{i}"]
            bins.add_metric(key, float(per_scrape * self.scrapes))
            reference.add_metric(key, 0.25)
        reference_rows = GaugeMetricFamily(
            "inferwatch_feature_reference_rows", "", labels=["model", "model_version", "feature"]
        )
        reference_rows.add_metric(["census", "1", "age"], 1000.0)
        rows = GaugeMetricFamily("inferwatch_window_rows", "rows", labels=["model"])
        rows.add_metric(["census"], 500.0)
        output = GaugeMetricFamily(
            "inferwatch_prediction_drift_score", "psi", labels=["model", "method"]
        )
        output.add_metric(["census", "psi"], 0.5)
        yield from (bins, reference, reference_rows, rows, output)


@pytest.fixture
def two_deployments() -> Iterator[dict[str, str]]:
    """namespace -> target of a /metrics endpoint serving the drifting model ``census``."""
    servers = []
    targets = {}
    try:
        for namespace in ("team-a", "team-b"):
            registry = CollectorRegistry()
            registry.register(DriftingModel())
            port = free_port()
            servers.append(start_http_server(port, addr="127.0.0.1", registry=registry))
            targets[namespace] = f"127.0.0.1:{port}"
        yield targets
    finally:
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join(5)


def prometheus_config(targets: dict[str, str], rules: Path) -> dict[str, Any]:
    """As Kubernetes service discovery labels them: the same job name (the Service name)
    in two namespaces."""
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules / "*.yml")],
        "scrape_configs": [
            {
                "job_name": f"inferwatch-{namespace}",
                "static_configs": [{"targets": [target], "labels": {"namespace": namespace}}],
                "relabel_configs": [{"target_label": "job", "replacement": "inferwatch"}],
            }
            for namespace, target in targets.items()
        ],
    }


def test_same_model_name_in_two_namespaces_raises_two_alerts(
    tmp_path: Path, two_deployments: dict[str, str]
) -> None:
    exe = shutil.which("prometheus")
    if exe is None:
        pytest.fail("prometheus is missing: sudo apt-get install prometheus")
    rules = tmp_path / "rules"
    render_rules(default_deploy_dir() / "prometheus" / "rules", rules, fast_for=1)
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(two_deployments, rules)))
    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [
            exe,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def firing() -> dict[str, list[dict[str, str]]]:
            try:
                body = httpx.get(url + "/api/v1/alerts", timeout=2).json()
            except (httpx.HTTPError, ValueError):  # not up yet: no answer, or not JSON
                return {}
            out: dict[str, list[dict[str, str]]] = {}
            for alert in body["data"]["alerts"]:
                if alert["state"] == "firing":
                    out.setdefault(alert["labels"]["alertname"], []).append(alert["labels"])
            return out if {"FeatureDriftDetected", "PredictionDriftDetected"} <= set(out) else {}

        # both deployments must have been scraped and evaluated before the count is final
        wait_until(lambda: len(firing().get("FeatureDriftDetected", [])) == 2, 60, "2 alerts")
        alerts = firing()
        for name in ("FeatureDriftDetected", "PredictionDriftDetected"):
            found = sorted((a["namespace"], a["job"], a["model"]) for a in alerts[name])
            assert found == [
                ("team-a", "inferwatch", "census"),
                ("team-b", "inferwatch", "census"),
            ], name
    finally:
        proc.terminate()
        proc.wait(10)
