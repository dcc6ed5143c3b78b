"""``inferwatch serve --workers 2``: two processes on one port, one scrape counts for both."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferwatch.examples import load_example_frame

pytestmark = pytest.mark.integration


def total(text: str, name: str, **labels: str) -> float:
    out = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head = line.rsplit(" ", 1)[0]
        if re.fullmatch(re.escape(name) + r"(\{.*\})?", head) and all(
            f'{k}="{v}"' in head for k, v in labels.items()
        ):
            out += float(line.rsplit(" ", 1)[1])
    return out


def test_one_scrape_of_two_workers_counts_every_request_and_row(
    serve_process: Callable[..., Any], postgres_cluster: Any, iris_model_dir: Path, tmp_path: Path
) -> None:
    env = {
        "INFERWATCH_STORE_URL": postgres_cluster.new_database(),
        "INFERWATCH_STORE_PASSWORD_FILE": str(postgres_cluster.password_file),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    args = ["--model-dir", str(iris_model_dir), "--data-dir", str(tmp_path / "d"), "--workers", "2"]
    proc = serve_process(args, env=env)
    rows = load_example_frame("iris")[0].to_dict(orient="records")
    pids: set[int] = set()
    sent_rows = 0
    requests = 0
    # new connections each time, so the kernel spreads them over both workers
    while len(pids) < 2 or requests < 40:
        assert requests < 400, "every request reached the same worker"
        n = 1 + requests % 5
        with httpx.Client(base_url=proc.url, timeout=10) as c:
            r = c.post("/predict", json={"instances": rows[:n]})
            assert r.status_code == 200, r.text
            sent_rows += n
            requests += 1
            metrics = c.get("/metrics").text
        # each worker's window gauge, labelled by its pid: both have scored rows
        found = re.findall(r'inferwatch_window_rows\{[^}]*pid="(\d+)"[^}]*\} ([0-9.e+]+)', metrics)
        pids.update(int(p) for p, v in found if float(v) > 0)

    with httpx.Client(base_url=proc.url, timeout=10) as c:
        scrape = c.get("/metrics").text
    assert total(scrape, "inferwatch_inference_rows_total") == sent_rows
    # the predict requests, and every scrape before this one
    assert total(scrape, "inferwatch_http_requests_total", route="/predict") == requests
    assert total(scrape, "inferwatch_http_requests_total", route="/metrics") >= requests
