"""The served Open Inference Protocol with the real Triton HTTP client (``tritonclient``),
whose tensors travel in the binary tensor data extension by default, and hostile binary
bodies."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from tests.support.waiting import wait_until

ROWS = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3},
    {"sepal_length": 5.9, "sepal_width": 3.0, "petal_length": 4.2, "petal_width": 1.5},
]


def _client(url: str) -> Any:
    return triton.InferenceServerClient(url=url.removeprefix("http://"))


def _inputs(rows: list[dict[str, Any]], binary: bool, datatype: str = "FP32") -> list[Any]:
    inputs = []
    for name in rows[0]:
        tensor = triton.InferInput(name, [len(rows), 1], datatype)
        dtype = np.float32 if datatype == "FP32" else np.float64
        values = np.array([[r[name]] for r in rows], dtype=dtype)
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    return inputs


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_the_triton_client_scores_and_its_rows_are_watched(
    service: Callable[..., Any], binary: bool
) -> None:
    svc = service()
    local = svc.client.post("/predict", json={"instances": ROWS}).json()
    client = _client(svc.url)
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("iris")
        meta = client.get_model_metadata("iris")
        assert [i["name"] for i in meta["inputs"]] == list(ROWS[0])
        # no outputs named: the client asks for every output in binary
        result = client.infer("iris", _inputs(ROWS, binary))
        assert [
            str(p, "utf-8") if isinstance(p, bytes) else p for p in result.as_numpy("predict")
        ] == local["predictions"]
        proba = result.as_numpy("predict_proba")
        assert proba.shape == (3, 3)
        # FP32 inputs: the probabilities of the rounded values
        np.testing.assert_allclose(proba, np.array(local["probabilities"]), rtol=1e-5)
        # one output, asked for as JSON or binary
        wanted = [triton.InferRequestedOutput("predict_proba", binary_data=binary)]
        only = client.infer("iris", _inputs(ROWS, binary, "FP64"), outputs=wanted)
        assert only.as_numpy("predict") is None
        # FP64 inputs: exactly the probabilities /predict gives
        np.testing.assert_allclose(
            only.as_numpy("predict_proba"), np.array(local["probabilities"]), rtol=1e-12
        )
        ids = only.get_response()["parameters"]["ids"]
    finally:
        client.close()
    # the rows were stored and watched like any other: labels join them by the answered ids
    fed = svc.client.post("/feedback", json={"labels": [{"id": i, "label": "setosa"} for i in ids]})
    assert fed.json()["counts"] == {"matched": 3}
    wait_until(
        lambda: svc.client.get("/api/snapshot").json()["window_rows"] == 9,
        what="the monitor counted the 9 rows scored through v2 and /predict",
    )


def test_binary_categories_reach_the_model_as_text(
    service: Callable[..., Any], cancer_model_dir: Path
) -> None:
    """BYTES tensors (length-prefixed UTF-8) for the cancer example's categorical features."""
    svc = service(model_dir=cancer_model_dir)
    meta = svc.client.get(f"/v2/models/{cancer_model_dir.name}").json()
    names = [i["name"] for i in meta["inputs"]]
    kinds = {i["name"]: i["datatype"] for i in meta["inputs"]}
    from inferwatch.lifecycle.examples import load_example_frame

    features, _ = load_example_frame("cancer")
    sample = features.head(4)
    records = [
        {k: (None if v != v else v) for k, v in r.items()} for r in sample.to_dict("records")
    ]
    local = svc.client.post("/predict", json={"instances": records}).json()
    inputs = []
    for name in names:
        if kinds[name] == "BYTES":
            tensor = triton.InferInput(name, [len(sample)], "BYTES")
            tensor.set_data_from_numpy(np.array(sample[name].astype(str).tolist(), dtype=object))
        else:
            tensor = triton.InferInput(name, [len(sample)], "FP64")
            tensor.set_data_from_numpy(sample[name].to_numpy(dtype=np.float64))
        inputs.append(tensor)
    client = _client(svc.url)
    try:
        result = client.infer(cancer_model_dir.name, inputs)
    finally:
        client.close()
    predicted = [p.decode() if isinstance(p, bytes) else p for p in result.as_numpy("predict")]
    assert predicted == local["predictions"]


def _binary_body(header: dict[str, Any], tail: bytes) -> tuple[bytes, dict[str, str]]:
    head = orjson.dumps(header)
    return head + tail, {
        "Inference-Header-Content-Length": str(len(head)),
        "content-type": "application/octet-stream",
    }


def _fp64_inputs(sizes: dict[str, int] | None = None) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "shape": [1],
            "datatype": "FP64",
            "parameters": {"binary_data_size": (sizes or {}).get(name, 8)},
        }
        for name in ROWS[0]
    ]


def test_hostile_binary_bodies_get_a_4xx_naming_the_field(service: Callable[..., Any]) -> None:
    svc = service()
    good_tail = b"".join(struct.pack("<d", v) for v in ROWS[0].values())
    body, headers = _binary_body({"inputs": _fp64_inputs()}, good_tail)
    ok = svc.client.post("/v2/models/iris/infer", content=body, headers=headers)
    assert ok.status_code == 200, ok.text
    cases: list[tuple[bytes, dict[str, str], int, str]] = []
    # the JSON part's size is not a number, is zero, or is larger than the body
    for value in ("abc", "0", str(len(body) + 1)):
        cases.append(
            (
                body,
                {**headers, "Inference-Header-Content-Length": value},
                400,
                "Inference-Header-Content-Length",
            )
        )
    # a size that runs past the body, a size that does not hold the shape, bytes left over
    long, h1 = _binary_body({"inputs": _fp64_inputs({"petal_width": 10_000})}, good_tail)
    cases.append((long, h1, 422, "inputs[3].parameters.binary_data_size"))
    odd, h2 = _binary_body({"inputs": _fp64_inputs({"sepal_length": 7})}, good_tail[:-1])
    cases.append((odd, h2, 422, "inputs[0].parameters.binary_data_size"))
    extra, h3 = _binary_body({"inputs": _fp64_inputs()}, good_tail + b"\x00" * 9)
    cases.append((extra, h3, 422, "no tensor claims"))
    # BYTES: a length prefix past the end, not UTF-8
    for raw, what in (
        (struct.pack("<I", 99) + b"ab", "runs past"),
        (struct.pack("<I", 2) + b"\xff\xfe", "UTF-8"),
    ):
        tensors = [
            {
                "name": "x",
                "shape": [1],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(raw)},
            }
        ]
        b, h = _binary_body({"inputs": tensors}, raw)
        cases.append((b, h, 422, what))
    # an unknown datatype, a negative shape
    weird = [dict(t, datatype="FP128") for t in _fp64_inputs()]
    b, h = _binary_body({"inputs": weird}, good_tail)
    cases.append((b, h, 422, "inputs[0].datatype"))
    neg = [dict(t, shape=[-1]) for t in _fp64_inputs()]
    b, h = _binary_body({"inputs": neg}, good_tail)
    cases.append((b, h, 422, "inputs[0].shape"))
    before = svc.client.get("/api/snapshot").json()["window_rows"]
    for content, hdrs, status, field in cases:
        answer = svc.client.post("/v2/models/iris/infer", content=content, headers=hdrs)
        assert answer.status_code == status, (field, answer.status_code, answer.text)
        assert field in answer.json()["error"], (field, answer.text)
    # none of them was stored or watched, and the service still answers
    assert svc.client.get("/api/snapshot").json()["window_rows"] == before
    again = svc.client.post("/v2/models/iris/infer", content=body, headers=headers)
    assert again.status_code == 200


def test_the_documented_triton_example_runs(
    service: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_watcher_apps import example

    svc = service()
    code = example("triton").replace("127.0.0.1:8000", svc.url.removeprefix("http://"))
    exec(compile(code, "docs/integrations.md:triton", "exec"), {"__name__": "example_triton"})
    printed = capsys.readouterr().out
    local = svc.client.post("/predict", json=ROWS[0]).json()
    assert local["predictions"][0] in printed and "['" in printed  # the class and the id
