"""schemathesis fuzzes the iris and the cancer service against their own OpenAPI document.

Checks: no answer >= 500, every status code, content type, header and body as documented,
and the protected routes refuse a wrong token. (The data-acceptance checks are left out on
purpose: the service accepts more than the schema promises, such as numeric strings counted
as ``wrong_type``, and answers a batch's bad feedback items one by one.)
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TOKEN = "0123456789abcdef-fuzzing"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "ignored_auth",
    ]
)


@pytest.mark.parametrize("example", ["iris", "cancer"])
def test_the_api_answers_as_its_document_says(
    service: Callable[..., Any],
    iris_model_dir: Path,
    cancer_model_dir: Path,
    tmp_path: Path,
    example: str,
) -> None:
    model_dir = iris_model_dir if example == "iris" else cancer_model_dir
    svc = service(model_dir=model_dir, api_token=TOKEN)
    exe = Path(sys.executable).parent / "schemathesis"
    if not exe.exists():
        pytest.fail("schemathesis is missing: pip install -e '.[dev]'")
    cmd = [str(exe), "run", f"{svc.url}/openapi.json", "-H", f"Authorization: Bearer {TOKEN}"]
    cmd += ["--checks", CHECKS, "--max-examples", "15", "--seed", "7", "--no-color"]
    cmd += ["--report-dir", str(tmp_path)]
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=240, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "passed" in done.stdout
