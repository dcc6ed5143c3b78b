"""16 clients send valid rows while one sends hostile ones: only the hostile one notices."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from inferwatch.examples import load_example_frame

CLIENTS = 16
ROUNDS = 12


def _hostile_bodies(row: dict[str, Any]) -> list[tuple[str, str]]:
    text = json.dumps({"instances": [row]})
    clinic = json.dumps(row["clinic"])
    return [
        ("/predict", text.replace(clinic, '"north\\ud800"', 1)),
        ("/invocations", json.dumps({"dataframe_records": [row]}).replace(clinic, '"\\udfff"')),
        ("/predict", text.replace(json.dumps(row["mean_radius"]), "1" + "0" * 400, 1)),
        ("/predict", "[" * 3000 + "]" * 3000),
        ("/feedback", '{"labels": [{"id": "\\ud800", "label": "malignant"}]}'),
        ("/feedback", '{"id": "abc", "label": "\\ud800"}'),
        ("/alerts", '{"alerts": ' + "[" * 3000 + "]" * 3000 + "}"),
    ]


def test_hostile_client_costs_nobody_else_anything(
    service: Callable[..., Any], cancer_model_dir: Path
) -> None:
    svc = service(model_dir=cancer_model_dir)
    features, target = load_example_frame("cancer")
    rows = features.head(CLIENTS * 2).to_dict(orient="records")
    failures: list[str] = []
    hostile_statuses: list[int] = []
    start = threading.Barrier(CLIENTS + 1)

    def valid(i: int) -> None:
        with httpx.Client(base_url=svc.url, timeout=60) as client:
            start.wait()
            for _ in range(ROUNDS):
                r = client.post("/predict", json={"instances": rows[2 * i : 2 * i + 2]})
                if r.status_code != 200:
                    failures.append(f"predict {r.status_code} {r.text[:100]}")
                    continue
                labels = [{"id": pid, "label": str(target.iloc[0])} for pid in r.json()["ids"]]
                f = client.post("/feedback", json={"labels": labels})
                if f.status_code != 200 or f.json()["counts"] != {"matched": 2}:
                    failures.append(f"feedback {f.status_code} {f.text[:100]}")

    def hostile() -> None:
        bodies = _hostile_bodies(rows[0])
        with httpx.Client(base_url=svc.url, timeout=60) as client:
            start.wait()
            for k in range(ROUNDS * 3):
                path, body = bodies[k % len(bodies)]
                r = client.post(path, content=body, headers={"content-type": "application/json"})
                hostile_statuses.append(r.status_code)

    threads = [threading.Thread(target=valid, args=(i,)) for i in range(CLIENTS)]
    threads.append(threading.Thread(target=hostile))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    assert len(hostile_statuses) == ROUNDS * 3
    assert all(400 <= s < 500 for s in hostile_statuses), sorted(set(hostile_statuses))
    assert svc.client.get("/api/snapshot").status_code == 200
