"""`inferwatch serve --upstream` in front of a real MLflow-protocol server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import joblib
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.support.upstream import UpstreamServer

from inferwatch.lifecycle.modeldir import MODEL_FILE

pytestmark = pytest.mark.integration

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def _errors(url: str, error_type: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if (
                s.name == "inferwatch_inference_errors_total"
                and s.labels["error_type"] == error_type
            ):
                return float(s.value)
    raise AssertionError("no inference_errors_total sample")


@pytest.fixture
def upstream(iris_model_dir: Path) -> Iterator[UpstreamServer]:
    server = UpstreamServer(joblib.load(iris_model_dir / MODEL_FILE), output="records")
    server.start()
    yield server
    server.stop()


def serve_gateway(
    serve_process: Callable[..., Any],
    upstream: UpstreamServer,
    model_dir: Path,
    tmp_path: Path,
    env: dict[str, str],
) -> Any:
    """``inferwatch serve --upstream`` in front of ``upstream`` as a real subprocess."""
    args = ["--upstream", upstream.url, "--model-dir", str(model_dir)]
    return serve_process([*args, "--data-dir", str(tmp_path / "d")], env=env)


def test_gateway_forwards_fails_fast_and_recovers(
    serve_process: Callable[..., Any],
    upstream: UpstreamServer,
    iris_model_dir: Path,
    tmp_path: Path,
) -> None:
    proc = serve_gateway(
        serve_process,
        upstream,
        iris_model_dir,
        tmp_path,
        env={"INFERWATCH_UPSTREAM_TIMEOUT_SECONDS": "3"},
    )
    with httpx.Client(base_url=proc.url, timeout=20) as c:
        r = c.post("/predict", json={"instances": [ROW, ROW]})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == ["setosa", "setosa"]
        assert r.json()["probabilities"] is not None
        assert c.post("/invocations", json={"dataframe_records": [ROW]}).status_code == 200
        assert upstream.requests >= 2
        assert c.get("/readyz").status_code == 200

        upstream.stop()
        down = c.post("/predict", json=ROW)
        assert down.status_code == 502
        assert down.json()["error_type"] == "upstream"
        assert (
            upstream.url.split("//")[1] in down.json()["detail"]
            or "upstream" in down.json()["detail"]
        )
        assert _errors(proc.url, "upstream") == 1
        assert c.get("/readyz").status_code == 503
        assert c.get("/healthz").status_code == 200

        upstream.start()
        back = c.post("/predict", json=ROW)
        assert back.status_code == 200 and back.json()["predictions"] == ["setosa"]
        assert c.get("/readyz").status_code == 200


def test_gateway_slow_upstream_is_504(
    serve_process: Callable[..., Any],
    upstream: UpstreamServer,
    iris_model_dir: Path,
    tmp_path: Path,
) -> None:
    proc = serve_gateway(
        serve_process,
        upstream,
        iris_model_dir,
        tmp_path,
        env={"INFERWATCH_UPSTREAM_TIMEOUT_SECONDS": "0.5"},
    )
    upstream.delay = 3.0
    with httpx.Client(base_url=proc.url, timeout=20) as c:
        r = c.post("/predict", json=ROW)
        assert r.status_code == 504
        assert r.json()["error_type"] == "timeout"
        assert _errors(proc.url, "timeout") == 1
        upstream.delay = 0.0
        assert c.post("/predict", json=ROW).status_code == 200
