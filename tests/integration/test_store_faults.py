"""Faults under load on the shared PostgreSQL store: one replica killed with SIGKILL, then the
database restarted, while predictions and labels keep coming. Everything acknowledged
(a 200 for a prediction, ``matched`` for a label) is in the store afterwards."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.waiting import wait_until

from inferwatch.examples import load_example_frame
from inferwatch.store import open_store

pytestmark = pytest.mark.integration


class Load:
    """Predictions spread over the replicas, each label sent to another replica."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.rows = load_example_frame("iris")[0].to_dict(orient="records")
        self.acked: dict[str, str] = {}
        self.labelled: dict[str, str] = {}
        self.refused = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def _post(self, client: httpx.Client, path: str, body: Any) -> httpx.Response | None:
        try:
            r = client.post(path, json=body)
        except httpx.TransportError:  # a killed replica
            return None
        if r.status_code != 200:
            with self.lock:
                self.refused += 1
            return None
        return r

    def predictor(self, worker: int) -> None:
        clients = [httpx.Client(base_url=u, timeout=10) for u in self.urls]
        for i in itertools.count(worker):
            if self.stop.is_set():
                break
            batch = [self.rows[(i + k) % len(self.rows)] for k in range(1 + i % 3)]
            r = self._post(clients[i % len(clients)], "/predict", {"instances": batch})
            if r is not None:
                body = r.json()
                with self.lock:
                    self.acked.update(zip(body["ids"], body["predictions"], strict=True))
            if r is None:
                self.stop.wait(0.02)
        for c in clients:
            c.close()

    def labeller(self) -> None:
        clients = [httpx.Client(base_url=u, timeout=10) for u in self.urls]
        for n in itertools.count():
            if self.stop.is_set():
                break
            with self.lock:
                todo = [(k, v) for k, v in self.acked.items() if k not in self.labelled][:20]
            if not todo:
                self.stop.wait(0.01)
                continue
            items = [{"id": k, "label": v} for k, v in todo]
            r = self._post(clients[n % len(clients)], "/feedback", {"labels": items})
            if r is None:
                self.stop.wait(0.02)
                continue
            with self.lock:
                for res, (k, v) in zip(r.json()["results"], todo, strict=True):
                    if res["outcome"] in ("matched", "duplicate"):
                        self.labelled[k] = v
        for c in clients:
            c.close()

    def counts(self) -> tuple[int, int]:
        with self.lock:
            return len(self.acked), len(self.labelled)


def test_replica_kill_and_database_restart_lose_nothing_acknowledged(
    serve_process: Callable[..., Any],
    postgres_cluster: Any,
    iris_model_dir: Path,
    tmp_path: Path,
) -> None:
    url = postgres_cluster.new_database()
    env = {
        "INFERWATCH_STORE_URL": url,
        "INFERWATCH_STORE_PASSWORD_FILE": str(postgres_cluster.password_file),
    }
    replicas = [
        serve_process(
            ["--model-dir", str(iris_model_dir), "--data-dir", str(tmp_path / f"r{i}")], env=env
        )
        for i in range(2)
    ]
    load = Load([r.url for r in replicas])
    threads = [threading.Thread(target=load.predictor, args=(w,)) for w in range(3)]
    threads.append(threading.Thread(target=load.labeller))
    for t in threads:
        t.start()
    try:
        wait_until(lambda: load.counts()[0] >= 100 and load.counts()[1] >= 30, 60, "load")
        replicas[0].kill()  # SIGKILL with requests in flight
        acked, labelled = load.counts()
        wait_until(lambda: load.counts()[0] >= acked + 100, 60, "load on the survivor")
        postgres_cluster.stop("fast")  # drops every connection
        wait_until(lambda: load.refused > 0, 30, "requests refused while the database is down")
        postgres_cluster.start()
        acked, labelled = load.counts()
        wait_until(
            lambda: load.counts()[0] >= acked + 100 and load.counts()[1] >= labelled + 30,
            60,
            "load after the database came back",
        )
    finally:
        load.stop.set()
        for t in threads:
            t.join(30)
        if not postgres_cluster.data.joinpath("postmaster.pid").exists():
            postgres_cluster.start()

    with open_store(url, password_file=postgres_cluster.password_file) as store:
        missing = [i for i in load.acked if store.get(i) is None]
        assert not missing, f"{len(missing)} of {len(load.acked)} acknowledged predictions lost"
        unlabelled = [
            i for i, y in load.labelled.items() if (got := store.get(i)) is None or got.label != y
        ]
        assert not unlabelled, f"{len(unlabelled)} of {len(load.labelled)} acknowledged labels lost"
