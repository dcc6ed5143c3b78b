"""Choosing the upstream's protocol: ``INFERWATCH_UPSTREAM_PROTOCOL`` / ``--upstream-protocol``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from inferwatch.backends import OipModelBackend, UpstreamModelBackend, backend_from_settings
from inferwatch.backends.oip import infer_payload
from inferwatch.cli import app
from inferwatch.settings import Settings


def test_the_setting_picks_the_backend(cancer_model_dir: Path, tmp_path: Path) -> None:
    base = {"model_dir": cancer_model_dir, "data_dir": tmp_path, "upstream_url": "http://m:8080"}
    mlflow = backend_from_settings(Settings(**base))
    v2 = backend_from_settings(Settings(**base, upstream_protocol="v2"))
    named = backend_from_settings(
        Settings(**base, upstream_protocol="v2", upstream_model_name="tumours")
    )
    try:
        assert type(mlflow) is UpstreamModelBackend
        assert isinstance(v2, OipModelBackend) and v2.model_name == "cancer"
        assert isinstance(named, OipModelBackend) and named.model_name == "tumours"
    finally:
        for backend in (mlflow, v2, named):
            asyncio.run(backend.aclose())


def test_categorical_columns_are_bytes_tensors_even_when_they_look_numeric() -> None:
    frame = {"x": np.array([1.5, 2.0]), "code": np.array(["7", "8"], dtype=object)}
    body = json.loads(infer_payload(frame, ["x", "code"], categorical=frozenset({"code"})))
    kinds = {t["name"]: (t["datatype"], t["data"]) for t in body["inputs"]}
    assert kinds == {"x": ("FP64", [1.5, 2.0]), "code": ("BYTES", ["7", "8"])}
    assert body["parameters"] == {"content_type": "pd"}


def test_an_unknown_protocol_is_refused_on_the_command_line() -> None:
    result = CliRunner().invoke(app, ["serve", "--upstream-protocol", "grpc"])
    assert result.exit_code == 2
    assert "mlflow or v2" in result.output
