"""The service on a PostgreSQL store: an outage answers 503 at once and heals by itself,
nothing acknowledged is lost, and a replica that starts rebuilds its window from the rows
every replica stored."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from inferwatch.examples import load_example_frame
from inferwatch.store import open_store

ROWS = load_example_frame("iris")[0].head(20).to_dict(orient="records")


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_database_outage_is_a_fast_503_and_the_service_recovers(
    service: Callable[..., Any], postgres_cluster: Any
) -> None:
    url = postgres_cluster.new_database()
    svc = service(store_url=url, store_password_file=postgres_cluster.password_file)
    c = svc.client
    before = c.post("/predict", json={"instances": ROWS[:5]})
    assert before.status_code == 200
    acked = list(before.json()["ids"])
    assert c.get("/readyz").status_code == 200

    postgres_cluster.stop("immediate")
    try:
        down = c.post("/predict", json={"instances": ROWS[:3]})
        assert down.status_code == 503
        assert "store" in down.json()["detail"]
        assert postgres_cluster.password not in down.text
        fb = c.post("/feedback", json={"labels": [{"id": acked[0], "label": "setosa"}]})
        assert fb.status_code == 503
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["store"]["ok"] is False
        metrics = c.get("/metrics").text
        assert _metric(metrics, "inferwatch_inference_errors_total", error_type="store") == 1
    finally:
        postgres_cluster.start()

    # no restart of the service: the next requests go through
    after = c.post("/predict", json={"instances": ROWS[5:10]})
    assert after.status_code == 200
    acked += after.json()["ids"]
    fb = c.post("/feedback", json={"labels": [{"id": acked[0], "label": "setosa"}]})
    assert [r["outcome"] for r in fb.json()["results"]] == ["matched"]
    assert c.get("/readyz").status_code == 200
    with open_store(url, password_file=postgres_cluster.password_file) as store:
        assert all(store.get(i) is not None for i in acked)
        assert store.stats().predictions == len(acked)
        labelled = store.get(acked[0])
        assert labelled is not None and labelled.label == "setosa"


def test_a_new_replica_rebuilds_its_window_from_every_replicas_rows(
    service: Callable[..., Any], postgres_cluster: Any
) -> None:
    url = postgres_cluster.new_database()
    pw = postgres_cluster.password_file
    a = service(store_url=url, store_password_file=pw)
    b = service(store_url=url, store_password_file=pw)
    ids = []
    for svc in (a, b):
        resp = svc.client.post("/predict", json={"instances": ROWS})
        assert resp.status_code == 200
        ids += resp.json()["ids"]
    labels = [{"id": i, "label": "setosa"} for i in ids[:30]]
    assert a.client.post("/feedback", json={"labels": labels}).status_code == 200
    fresh = service(store_url=url, store_password_file=pw)
    assert (fresh.state.rebuilt_rows, fresh.state.rebuilt_labels) == (40, 30)
    assert re.search(
        r'inferwatch_window_rows\{model="iris"\} 40', fresh.client.get("/metrics").text
    )
