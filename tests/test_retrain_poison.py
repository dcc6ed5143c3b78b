"""Poisoned labels cannot replace a model; nor can anyone on the network without a token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from inferwatch.examples import load_example_frame
from inferwatch.modeldir import load_model_dir
from inferwatch.retrain import RetrainPolicy, retrain

ROTATE = {"setosa": "virginica", "versicolor": "setosa", "virginica": "versicolor"}


def _rotated(labels: pd.Series[Any]) -> pd.Series[Any]:
    return labels.map(lambda v: ROTATE.get(v, v))


def test_rotated_labels_do_not_promote_a_model(iris_model_dir: Path) -> None:
    bundle = load_model_dir(iris_model_dir)
    assert bundle.evaluation is not None and len(bundle.evaluation) > 0
    features, labels = load_example_frame("iris")
    features = pd.concat([features, features], ignore_index=True)  # 300 labelled rows
    poisoned = _rotated(pd.concat([labels, labels], ignore_index=True))
    result, promoted = retrain(bundle, features, poisoned, policy=RetrainPolicy(min_labels=100))
    assert result.outcome == "rejected" and promoted is None
    assert "reference evaluation data" in result.reason
    # with the check off (an operator accepting a new concept) they would have promoted
    loose = RetrainPolicy(min_labels=100, reference_tolerance=1.0)
    assert retrain(bundle, features, poisoned, policy=loose)[0].outcome == "promoted"


def test_poisoned_feedback_and_a_retrain_request_leave_the_model_serving(service: Any) -> None:
    svc = service(retrain_min_labels=100)
    features, labels = load_example_frame("iris")
    rows = features.to_dict(orient="records")
    for _ in range(2):
        ids = svc.client.post("/predict", json={"instances": rows}).json()["ids"]
        feedback = [{"id": i, "label": ROTATE[y]} for i, y in zip(ids, labels, strict=True)]
        assert svc.client.post("/feedback", json={"labels": feedback}).status_code == 200
    result = svc.client.post("/api/retrain").json()
    assert result["outcome"] == "rejected", result
    setosa = {k: float(v) for k, v in features.iloc[0].items()}
    answer = svc.client.post("/predict", json=setosa).json()
    assert answer["model_version"] == "1" and answer["predictions"] == ["setosa"]


def test_retraining_beyond_loopback_needs_a_token(service: Any) -> None:
    # the test binds 127.0.0.1 whatever the setting; the service believes it is public
    svc = service(host="0.0.0.0", allow_insecure_public_bind=True)
    refused = svc.client.post("/api/retrain")
    assert refused.status_code == 403 and "token" in refused.json()["detail"]
    token = "0123456789abcdef-retrain"
    guarded = service(host="0.0.0.0", api_token=token, retrain_min_labels=10_000)
    auth = {"authorization": f"Bearer {token}"}
    assert guarded.client.post("/api/retrain", headers=auth).json()["outcome"] == "rejected"
