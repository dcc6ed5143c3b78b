"""Locust load test for an inferwatch service (``pip install locust``; not a dependency).

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000
    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 --headless -u 50 -r 10 -t 2m

Rows come from the same example data as ``inferwatch simulate`` (``INFERWATCH_EXAMPLE``,
default ``iris``), so the model sees realistic inputs; a share of the answered rows gets
its ground-truth label back through ``/feedback``. Set ``INFERWATCH_API_TOKEN`` when the
service requires a token, and ``INFERWATCH_DRIFT_SHIFT`` (reference standard deviations)
to drift the first two numeric features while loading the service.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
from locust import HttpUser, between, task

from inferwatch.simulate.play import load_example_data
from inferwatch.simulate.scenarios import drift_rows, sample_rows

DATA = load_example_data(os.environ.get("INFERWATCH_EXAMPLE", "iris"))
DRIFT_SHIFT = float(os.environ.get("INFERWATCH_DRIFT_SHIFT", "0"))
LABEL_SHARE = float(os.environ.get("INFERWATCH_LABEL_SHARE", "0.5"))
TOKEN = os.environ.get("INFERWATCH_API_TOKEN")


class InferwatchUser(HttpUser):
    """A client that scores single rows and small batches and reports some labels."""

    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.rng = np.random.default_rng(random.randrange(2**32))
        self.pending: list[dict[str, Any]] = []
        if TOKEN:
            self.client.headers["authorization"] = f"Bearer {TOKEN}"

    def _score(self, n: int, name: str) -> None:
        batch = sample_rows(DATA, n, self.rng)
        if DRIFT_SHIFT:
            batch = drift_rows(DATA, batch, DATA.numeric[:2], DRIFT_SHIFT, 1.0, self.rng)
        body: Any = batch.rows[0] if n == 1 else {"instances": batch.rows}
        with self.client.post("/predict", json=body, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}: {response.text[:200]}")
                return
            ids = response.json().get("ids", [])
            for pred_id, label in zip(ids, batch.labels, strict=False):
                if self.rng.random() < LABEL_SHARE:
                    self.pending.append({"id": pred_id, "label": label})

    @task(10)
    def predict_one(self) -> None:
        self._score(1, "/predict (1 row)")

    @task(2)
    def predict_batch(self) -> None:
        self._score(20, "/predict (20 rows)")

    @task(1)
    def feedback(self) -> None:
        if not self.pending:
            return
        labels, self.pending = self.pending[:500], self.pending[500:]
        self.client.post("/feedback", json={"labels": labels}, name="/feedback")
