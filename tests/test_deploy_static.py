"""docker compose, the Dockerfile and the Kubernetes manifests, checked without a Docker engine
or a cluster: every file they mount exists, every setting they pass is a real setting, every
command they run is a real command (run here, natively), and the pieces point at each other."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer
import yaml

from inferwatch.cli import app
from inferwatch.grafana import SCHEMA_VERSION
from inferwatch.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
K8S_DIR = ROOT / "deploy" / "kubernetes"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
SETTING_ENV = {f"INFERWATCH_{name.upper()}" for name in Settings.model_fields}


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def k8s_objects() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            out.extend(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    return out


def k8s_documents() -> dict[str, dict[str, Any]]:
    """One object per kind (the last one of a kind; the ConfigMaps have their own test)."""
    return {doc["kind"]: doc for doc in k8s_objects()}


def kustomization() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text("utf-8"))
    return doc


def cli_commands() -> set[str]:
    return set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


# --- docker compose


def test_compose_bind_mounts_exist_in_the_repo() -> None:
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_compose_publishes_ports_on_loopback_only() -> None:
    for name, service in COMPOSE["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_compose_images_are_pinned_and_settings_are_real() -> None:
    for name, service in COMPOSE["services"].items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag"
        for key in service.get("environment", {}):
            if key.startswith("INFERWATCH_"):
                assert key in SETTING_ENV, f"{name}: {key} is not a setting"


def test_compose_commands_are_inferwatch_commands() -> None:
    commands = cli_commands()
    assert {"serve", "train", "simulate", "ingest", "datalake"} <= commands
    for name, service in COMPOSE["services"].items():
        if service.get("image") == "inferwatch:local" and "command" in service:
            assert service["command"][0] in commands, f"{name} runs an unknown command"


def test_compose_prometheus_scrapes_the_services_it_names() -> None:
    prometheus = yaml.safe_load(
        (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
    )
    targets = {
        target
        for job in prometheus["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert "inferwatch:8000" in targets
    assert "alertmanager:9093" in targets
    for target in targets:
        host = target.split(":")[0]
        assert host == "localhost" or host in COMPOSE["services"], f"no service {host}"


def test_compose_grafana_provisioning_points_at_the_mounted_dashboards() -> None:
    grafana = COMPOSE["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"] if v.startswith("."))
    provider_dir = ROOT / "deploy" / "grafana" / "provisioning" / "dashboards"
    for path in provider_dir.glob("*.yml"):
        for provider in yaml.safe_load(path.read_text(encoding="utf-8"))["providers"]:
            container_path = provider["options"]["path"]
            host_path = next(h for h, c in mounts.items() if c == container_path)
            assert list((ROOT / host_path).glob("*.json")), "no dashboards where Grafana looks"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "deploy/grafana/dashboards" / Path(home).name).exists()


# --- Dockerfile


def test_dockerfile_copies_what_exists_and_runs_unprivileged() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "FROM" and ":" in instructions[0][1]
    for keyword, rest in instructions:
        if keyword == "COPY":
            *sources, _ = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY of missing {source}"
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    env = " ".join(rest for keyword, rest in instructions if keyword == "ENV")
    for key in re.findall(r"(INFERWATCH_\w+)=", env):
        assert key in SETTING_ENV, f"Dockerfile sets unknown {key}"


def test_dockerfile_build_step_trains_the_example_natively(tmp_path: Path) -> None:
    """The image's build runs `inferwatch train --example iris --out DIR`: run it here."""
    run = next(rest for keyword, rest in dockerfile_instructions() if keyword == "RUN")
    train = re.search(r"inferwatch (train [^&]+)", run)
    assert train is not None
    args = train.group(1).split()
    out = tmp_path / "model"
    args[args.index("--out") + 1] = str(out)
    subprocess.run([sys.executable, "-m", "inferwatch.cli", *args], check=True, capture_output=True)
    assert {p.name for p in out.iterdir()} >= {"model.joblib", "schema.json", "metadata.json"}


def test_dockerfile_healthcheck_and_entrypoint_use_real_endpoints() -> None:
    instructions = dict(dockerfile_instructions())
    assert "/healthz" in instructions["HEALTHCHECK"]
    assert instructions["ENTRYPOINT"] == '["inferwatch"]'
    assert yaml.safe_load(instructions["CMD"])[0] in cli_commands()


# --- Kubernetes


def test_kustomization_lists_existing_files() -> None:
    listed = kustomization()["resources"]
    for resource in listed:
        assert (K8S_DIR / resource).exists(), resource
    on_disk = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk == set(listed)


def test_prometheus_operator_objects_get_the_release_label() -> None:
    """kube-prometheus-stack ignores ServiceMonitors and PrometheusRules without `release`."""
    [patch] = [p for p in kustomization()["patches"] if "release" in p["patch"]]
    assert patch["target"] == {"group": "monitoring.coreos.com"}
    [op] = yaml.safe_load(patch["patch"])
    assert op["op"] == "add" and op["path"] == "/metadata/labels/release" and op["value"]
    operator_kinds = {
        doc["kind"]
        for doc in k8s_objects()
        if doc["apiVersion"].startswith("monitoring.coreos.com/")
    }
    assert operator_kinds == {"ServiceMonitor", "PrometheusRule"}


def test_api_token_secret_is_generated_and_mounted() -> None:
    """The Secret comes from the secretGenerator (a git-ignored file), under the name the
    Deployment mounts (kustomize adds the content hash to both)."""
    [generator] = kustomization()["secretGenerator"]
    key, _, source = generator["files"][0].partition("=")
    assert key == "token" and f"deploy/kubernetes/{source}" in (ROOT / ".gitignore").read_text()
    volumes = k8s_documents()["Deployment"]["spec"]["template"]["spec"]["volumes"]
    [secret] = [v["secret"] for v in volumes if "secret" in v]
    assert secret["secretName"] == generator["name"]
    container = k8s_documents()["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "api-token")
    assert env["INFERWATCH_API_TOKEN_FILE"] == f"{mount['mountPath']}/{key}"


def test_k8s_selectors_ports_and_probes_fit_together() -> None:
    docs = k8s_documents()
    deployment, service, monitor = docs["Deployment"], docs["Service"], docs["ServiceMonitor"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= (
        pod_labels.items()
    )
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items()
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    port_names = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= service_ports
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for env in container["env"]:
        assert env["name"] in SETTING_ENV, env["name"]


def test_k8s_probe_paths_are_served_by_the_app(service: Any) -> None:
    running = service()
    for path in ("/readyz", "/healthz", "/metrics"):
        assert running.client.get(path).status_code == 200, path


def test_prometheusrule_is_in_sync_with_the_rule_files() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "render_prometheusrule.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


# --- Grafana


def test_dashboards_ship_as_configmaps_for_the_grafana_sidecar() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "render_dashboard_configmaps.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout
    maps = [doc for doc in k8s_objects() if doc["kind"] == "ConfigMap"]
    shipped = {}
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        [(name, text)] = cm["data"].items()
        shipped[name] = json.loads(text)
    files = {p.name: json.loads(p.read_text("utf-8")) for p in DASHBOARDS.glob("*.json")}
    assert shipped == files


# The dashboard schemaVersion each Grafana release writes when it saves a dashboard.
GRAFANA_SCHEMA = {"11.5": 40, "11.6": 41}


def test_dashboards_schema_version_matches_the_pinned_grafana() -> None:
    image = COMPOSE["services"]["grafana"]["image"]
    version = image.rpartition(":")[2]
    release = ".".join(version.split(".")[:2])
    assert release in GRAFANA_SCHEMA, f"add the schemaVersion of Grafana {release}"
    for path in DASHBOARDS.glob("*.json"):
        schema = json.loads(path.read_text("utf-8"))["schemaVersion"]
        assert schema == GRAFANA_SCHEMA[release] == SCHEMA_VERSION, path.name
