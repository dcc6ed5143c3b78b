"""The deploy files checked by the ecosystem's own validators, installed from PyPI by the
dev extra: kubernetes-validate (core objects), check-jsonschema (the Prometheus Operator CRD
schemas and the Compose Specification, vendored under tests/schemas) and hadolint. Each
validator is also shown a broken file, so a validator that accepts anything fails here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
OPERATOR_FILES = {"servicemonitor.yaml": "servicemonitor", "prometheusrule.yaml": "prometheusrule"}
CORE_FILES = sorted(
    p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml" and p.name not in OPERATOR_FILES
)


def run(tool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / tool
    if not exe.exists():
        pytest.fail(f"{tool} is missing: pip install -e '.[dev]'")
    return subprocess.run(
        [str(exe), *map(str, args)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def strict(schema: Any) -> Any:
    """The CRD schema with unknown fields rejected wherever it lists the known ones, and its
    Go patterns readable by Python (``^(?i)x`` is ``(?i)^x``: Python wants flags first)."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    pattern = out.get("pattern")
    if isinstance(pattern, str) and pattern.startswith("^(?i)"):
        out["pattern"] = "(?i)^" + pattern.removeprefix("^(?i)")
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def write(path: Path, doc: Any) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def test_core_objects_pass_kubernetes_validate(tmp_path: Path) -> None:
    result = run("kubernetes-validate", "--strict", "--quiet", *CORE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr
    deployment = yaml.safe_load((K8S / "deployment.yaml").read_text())
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    broken = run("kubernetes-validate", "--strict", write(tmp_path / "d.yaml", deployment))
    assert broken.returncode != 0 and "replica" in broken.stdout + broken.stderr


@pytest.fixture(scope="module")
def crd_schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    directory = tmp_path_factory.mktemp("schemas")
    for name in OPERATOR_FILES.values():
        vendored = SCHEMAS / f"monitoring.coreos.com_{name}_v1.json"
        out[name] = directory / vendored.name
        out[name].write_text(json.dumps(strict(json.loads(vendored.read_text()))))
    return out


@pytest.mark.parametrize("filename", sorted(OPERATOR_FILES))
def test_operator_objects_match_their_crd_schema(
    filename: str, crd_schemas: dict[str, Path], tmp_path: Path
) -> None:
    schema = crd_schemas[OPERATOR_FILES[filename]]
    # The CRDs write Go regular expressions ((?i) flags): Python reads them the same way.
    result = run(
        "check-jsonschema", "--regex-variant", "python", "--schemafile", schema, K8S / filename
    )
    assert result.returncode == 0, result.stdout + result.stderr
    doc = yaml.safe_load((K8S / filename).read_text())
    doc["spec"]["unknownField"] = True
    broken = run(
        "check-jsonschema",
        "--regex-variant",
        "python",
        "--schemafile",
        schema,
        write(tmp_path / filename, doc),
    )
    assert broken.returncode != 0 and "unknownField" in broken.stdout


def test_compose_file_matches_the_compose_spec(tmp_path: Path) -> None:
    schema = SCHEMAS / "compose-spec.json"
    result = run("check-jsonschema", "--schemafile", schema, ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    compose["services"]["inferwatch"]["restart_policy"] = "always"  # a Swarm key, misplaced
    broken = run("check-jsonschema", "--schemafile", schema, write(tmp_path / "c.yml", compose))
    assert broken.returncode != 0 and "restart_policy" in broken.stdout


def test_dockerfile_has_no_hadolint_finding(tmp_path: Path) -> None:
    result = run("hadolint", "--failure-threshold", "info", ROOT / "Dockerfile")
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout
    unpinned = tmp_path / "Dockerfile"
    unpinned.write_text("FROM python:3.11-slim\nRUN pip install --no-cache-dir fastapi\nUSER app\n")
    broken = run("hadolint", "--failure-threshold", "info", unpinned)
    assert broken.returncode != 0 and "DL3013" in broken.stdout and "DL3066" in broken.stdout
