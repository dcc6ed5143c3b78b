"""Two replicas on one PostgreSQL store: a label reaches its prediction through either one,
and Prometheus scraping both gives the cross-replica accuracy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.metrics import accuracy_score
from tests.support.waiting import free_port, wait_until

from inferwatch.examples import load_example_frame
from inferwatch.settings import Settings
from inferwatch.stack import LocalStack

pytestmark = pytest.mark.integration

# Correct labels over all labels, from the raw counters of every scraped replica: the
# numerator keeps the diagonal cells (actual == predicted) of the confusion counters.
ACCURACY = """
sum(
  sum by (job, instance, actual, predicted) (inferwatch_labeled_predictions_total)
  and on (job, instance, actual, predicted)
  label_replace(
    sum by (job, instance, actual) (inferwatch_labeled_predictions_total),
    "predicted", "$1", "actual", "(.*)")
) / sum(inferwatch_labeled_predictions_total)
"""


def query(prom: str, expr: str) -> list[dict[str, Any]]:
    body = httpx.get(prom + "/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def replica_env(cluster: Any, url: str) -> dict[str, str]:
    return {
        "INFERWATCH_STORE_URL": url,
        "INFERWATCH_STORE_PASSWORD_FILE": str(cluster.password_file),
        "INFERWATCH_MIN_LABELS": "10",
    }


def test_labels_sent_to_the_other_replica_all_match_and_prometheus_sums_both(
    serve_process: Callable[..., Any],
    postgres_cluster: Any,
    iris_model_dir: Path,
    tmp_path: Path,
) -> None:
    url = postgres_cluster.new_database()
    env = replica_env(postgres_cluster, url)
    replicas = [
        serve_process(
            ["--model-dir", str(iris_model_dir), "--data-dir", str(tmp_path / f"r{i}")], env=env
        )
        for i in range(2)
    ]
    settings = Settings(
        port=free_port(),
        data_dir=tmp_path / "stack",
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
        scrape_interval="1s",
        evaluation_interval="1s",
    )
    a, b = (r.url.removeprefix("http://") for r in replicas)
    with LocalStack(
        settings, fast=True, fast_for=1.0, scrape_target=a, extra_jobs={"inferwatch-b": b}
    ) as stack:
        prom = stack.prometheus_url
        wait_until(lambda: len(query(prom, "up == 1")) >= 2, 30, "both replicas scraped")

        features, target = load_example_frame("iris")
        rng = np.random.default_rng(13)
        clients = [httpx.Client(base_url=r.url, timeout=30) for r in replicas]
        predicted: list[str] = []
        actual: list[str] = []
        outcomes: list[str] = []
        try:
            for step in range(12):
                idx = rng.integers(0, len(features), 25)
                rows = features.iloc[idx].to_dict(orient="records")
                labels = [str(y) for y in target.iloc[idx]]
                served_by = step % 2
                resp = clients[served_by].post("/predict", json={"instances": rows})
                assert resp.status_code == 200, resp.text
                body = resp.json()
                items = [{"id": i, "label": y} for i, y in zip(body["ids"], labels, strict=True)]
                fb = clients[1 - served_by].post("/feedback", json={"labels": items})
                assert fb.status_code == 200, fb.text
                outcomes += [r["outcome"] for r in fb.json()["results"]]
                predicted += [str(p) for p in body["predictions"]]
                actual += labels
        finally:
            for c in clients:
                c.close()

        assert outcomes.count("unknown_id") == 0
        assert outcomes == ["matched"] * len(actual)
        expected = float(accuracy_score(actual, predicted))
        wait_until(
            lambda: (
                query(prom, "sum(inferwatch_labeled_predictions_total)")
                and float(query(prom, "sum(inferwatch_labeled_predictions_total)")[0]["value"][1])
                == len(actual)
            ),
            30,
            "every label counted in Prometheus",
        )
        # both replicas counted labels: the figure really spans them
        per_job = query(prom, "sum by (job) (inferwatch_labeled_predictions_total)")
        assert len(per_job) == 2 and all(float(s["value"][1]) > 0 for s in per_job)
        [got] = query(prom, ACCURACY)
        assert float(got["value"][1]) == pytest.approx(expected, abs=1e-9)
