"""deploy/ is validated by parsing (no container engine here): every file parses, and compose,
Kubernetes, the Dockerfile, the alerts and the dashboard agree with the code they deploy."""

from __future__ import annotations

import json
import re
import tomllib
from itertools import product
from pathlib import Path
from typing import Any

import pytest
import yaml

import dualmm.metrics
from dualmm.config import ProcessSettings
from dualmm.worker import DRAIN

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose"
K8S = DEPLOY / "k8s"

YAML_FILES = sorted(p for ext in ("*.yml", "*.yaml") for p in DEPLOY.rglob(ext))
JSON_FILES = sorted(DEPLOY.rglob("*.json"))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE / "docker-compose.yml")
    return data


def k8s_docs() -> list[dict[str, Any]]:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    docs: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / resource).read_text()) if d]
    return docs


def k8s_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in k8s_docs() if d["kind"] == kind]


def setting_env_names() -> set[str]:
    prefix = ProcessSettings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in ProcessSettings.model_fields}


def env_file_keys(path: Path) -> set[str]:
    """Keys of a dotenv file, commented-out examples (`#KEY=value`) included."""
    keys = set()
    for line in path.read_text().splitlines():
        match = re.match(r"#?([A-Z][A-Z0-9_]*)=", line.strip())
        if match:
            keys.add(match.group(1))
    return keys


def image_ref(image: str) -> tuple[str, str]:
    name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    return name, tag


# --- everything parses -------------------------------------------------------------------------


def test_deploy_has_files_to_validate() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in YAML_FILES + JSON_FILES}
    assert {
        "compose/docker-compose.yml",
        "compose/prometheus/alerts.yml",
        "compose/prometheus/prometheus.yml",
        "compose/otel/config.yaml",
        "compose/grafana/dashboards/dualmm.json",
        "k8s/kustomization.yaml",
        "helm/temporal-values.yaml",
    } <= names


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_yaml_parses(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs and all(isinstance(d, dict) for d in docs)


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_json_parses(path: Path) -> None:
    assert isinstance(json.loads(path.read_text()), dict)


# --- the Dockerfile ------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_pins_python_311_slim() -> None:
    froms = [rest for op, rest in dockerfile_instructions() if op == "FROM"]
    assert len(froms) == 1
    name, tag = image_ref(froms[0].split()[0])
    assert name == "python" and re.fullmatch(r"3\.11\.\d+-slim(-\w+)?", tag), froms[0]


def test_dockerfile_installs_from_the_lock_then_the_project_without_deps() -> None:
    runs = [rest for op, rest in dockerfile_instructions() if op == "RUN"]
    joined = " && ".join(runs)
    lock = joined.find("pip install -r requirements.lock")
    project = joined.find("pip install --no-deps .")
    assert lock >= 0 and project > lock
    # Nothing else is installed on its own (every dependency comes pinned from the lock).
    installs = re.findall(r"pip install ([^&;]*)", joined)
    assert sorted(i.strip() for i in installs) == ["--no-deps .", "-r requirements.lock"]


def _pins(lock: str) -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / lock).read_text(), re.MULTILINE)
    return {name.lower(): version for name, version in pins}


def test_the_image_lock_holds_no_dev_tool_and_the_dev_lock_the_same_pins() -> None:
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tools = {
        re.split(r"[<>=\[ ]", d)[0].lower()
        for d in pyproject["project"]["optional-dependencies"]["dev"]
    }
    # pytest stays: py-order-utils and poly-eip712-structs (under py-clob-client-v2) require it.
    assert tools - {"pytest"} and not (tools - {"pytest"}) & runtime.keys(), tools & runtime.keys()
    assert tools <= dev.keys()
    assert {name: dev[name] for name in runtime} == runtime


def test_dockerfile_copies_every_package_the_project_builds() -> None:
    copied = {
        rest.split()[0]
        for op, rest in dockerfile_instructions()
        if op == "COPY" and not rest.startswith("--from")
    }
    copied |= {
        src for op, rest in dockerfile_instructions() if op == "COPY" for src in rest.split()[:-1]
    }
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    for pattern in packages:
        assert pattern.rstrip("*") in copied, pattern
    assert {"requirements.lock", "pyproject.toml", pyproject["project"]["readme"]} <= copied
    # .dockerignore must not drop what the build copies.
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not ignored & copied


def test_dockerfile_runs_as_non_root_the_dualmm_worker() -> None:
    instructions = dockerfile_instructions()
    users = [i for i, (op, _) in enumerate(instructions) if op == "USER"]
    assert users, "no USER: the container would run as root"
    user = instructions[users[-1]][1].split(":")[0]
    assert user not in ("root", "0")
    assert users[-1] > max(i for i, (op, _) in enumerate(instructions) if op == "RUN")
    ops = dict(instructions)
    assert json.loads(ops["ENTRYPOINT"]) == ["dualmm"]
    assert json.loads(ops["CMD"]) == ["worker"]
    assert "HEALTHCHECK" in ops


# --- compose --------------------------------------------------------------------------------------


def published(service: dict[str, Any]) -> set[int]:
    return {int(str(p).split(":")[-2]) for p in service.get("ports", [])}


def container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(p).split(":")[-1]) for p in service.get("ports", [])} | {
        int(p) for p in service.get("expose", [])
    }


def test_compose_workers_are_two_replicas_of_the_repo_image() -> None:
    services = compose()["services"]
    worker = services["worker"]
    context = (COMPOSE / worker["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / worker["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert worker["deploy"]["replicas"] == 2
    assert worker["command"] == ["worker"]
    # The simulator runs the same image; nothing else is built from it.
    assert services["sim"]["image"] == worker["image"]
    assert services["sim"]["profiles"] == ["sim"]
    assert services["sim"]["command"][0] == "sim-server"


def test_compose_pins_every_third_party_image() -> None:
    services = compose()["services"]
    ours = services["worker"]["image"]
    for name, service in services.items():
        if service["image"] == ours:
            continue
        _, tag = image_ref(service["image"])
        assert tag and tag != "latest" and re.search(r"\d", tag), (name, service["image"])
    assert image_ref(services["temporal"]["image"])[0] == "temporalio/auto-setup"
    assert image_ref(services["temporal-ui"]["image"])[0] == "temporalio/ui"


def test_compose_ports() -> None:
    services = compose()["services"]
    assert 7233 in published(services["temporal"])
    assert 8233 in published(services["temporal-ui"])
    worker = services["worker"]
    metrics_port = int(worker["environment"]["DUALMM_METRICS_PROMETHEUS"].rsplit(":", 1)[1])
    assert metrics_port in container_ports(worker)
    assert worker["environment"]["DUALMM_TEMPORAL_ADDRESS"] == "temporal:7233"
    # The simulator listens where dualmm.env.example points the workers.
    sim_url = dict(
        line.split("=", 1)
        for line in (COMPOSE / "dualmm.env.example").read_text().splitlines()
        if line.startswith("DUALMM_CLOB_URL=")
    )["DUALMM_CLOB_URL"]
    sim_port = services["sim"]["command"][services["sim"]["command"].index("--port") + 1]
    assert sim_url == f"http://sim:{sim_port}"
    # Prometheus scrapes every worker replica on that port.
    prometheus = load_yaml(COMPOSE / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    sd = jobs["dualmm-worker"]["dns_sd_configs"][0]
    assert sd["names"] == ["worker"] and sd["port"] == metrics_port


def test_compose_env_variables_exist_in_settings() -> None:
    known = setting_env_names()
    services = compose()["services"]
    used = set()
    for service in services.values():
        env = service.get("environment", {})
        used |= {k for k in env if k.startswith("DUALMM_")}
    for example in (COMPOSE / "dualmm.env.example", DEPLOY / "dualmm.env.example"):
        used |= env_file_keys(example)
    assert used and used <= known, used - known


def test_compose_secrets_come_from_git_ignored_files() -> None:
    services = compose()["services"]
    env_file = services["worker"]["env_file"]
    assert env_file == "dualmm.env"
    assert (COMPOSE / f"{env_file}.example").exists() and (COMPOSE / ".env.example").exists()
    gitignore = (ROOT / ".gitignore").read_text().splitlines()
    assert "deploy/compose/*.env" in gitignore and "deploy/compose/.env" in gitignore
    # No secret value is written in the compose file itself.
    for service in services.values():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in ("PASSWORD", "PWD", "KEY", "SECRET")):
                assert str(value).startswith("${"), key
    for key in ProcessSettings.SECRET_FIELDS:
        assert ProcessSettings.env_name(key) not in services["worker"]["environment"]


# --- Kubernetes -----------------------------------------------------------------------------------


def test_k8s_worker_runs_the_compose_image() -> None:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    (deployment,) = k8s_kind("Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (override,) = [i for i in kustomization["images"] if i["name"] == container["image"]]
    image = f"{override['newName']}:{override['newTag']}"
    assert image == compose()["services"]["worker"]["image"]
    assert container["args"][0] == "worker" and "--live" not in container["args"]


def test_k8s_worker_probes_shutdown_and_resources() -> None:
    (deployment,) = k8s_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] >= 2
    # The drain fits in the grace period, which is not so long that a hung worker holds a roll.
    assert DRAIN.total_seconds() + 10 <= pod["terminationGracePeriodSeconds"] <= 60
    assert pod["securityContext"]["runAsNonRoot"] is True
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    config = k8s_kind("ConfigMap")[0]["data"]
    assert ports["metrics"] == int(config["DUALMM_METRICS_PROMETHEUS"].rsplit(":", 1)[1])
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in ports, probe
    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["limits"]["memory"]


def test_k8s_rolls_the_workers_with_no_gap() -> None:
    """A new worker is Ready (polling: its --ready-file) before an old one is stopped, and
    the old one's drain fits in its grace period; compose and systemd leave the same time."""
    (deployment,) = k8s_kind("Deployment")
    spec = deployment["spec"]
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["strategy"]["rollingUpdate"]["maxSurge"] >= 1
    (container,) = spec["template"]["spec"]["containers"]
    args = container["args"]
    ready_file = args[args.index("--ready-file") + 1]
    assert container["readinessProbe"]["exec"]["command"] == ["cat", ready_file]
    assert ready_file.startswith("/tmp/")  # the writable emptyDir (read-only root)
    grace = spec["template"]["spec"]["terminationGracePeriodSeconds"]
    stop_grace = compose()["services"]["worker"]["stop_grace_period"]
    assert int(stop_grace.removesuffix("s")) == grace
    unit = (DEPLOY / "dualmm-worker.service").read_text()
    assert f"TimeoutStopSec={grace}" in unit


def test_k8s_env_keys_exist_in_settings_and_refs_resolve() -> None:
    known = setting_env_names()
    (config,) = k8s_kind("ConfigMap")
    (secret,) = k8s_kind("Secret")
    assert set(config["data"]) <= known, set(config["data"]) - known
    assert set(secret["stringData"]) <= known
    (deployment,) = k8s_kind("Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    refs = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
    assert refs == {config["metadata"]["name"], secret["metadata"]["name"]}
    # Secrets only in the Secret, settings only in the ConfigMap.
    secrets = {ProcessSettings.env_name(f) for f in ProcessSettings.SECRET_FIELDS}
    assert not secrets & set(config["data"])
    assert set(secret["stringData"]) == secrets


def test_k8s_secret_is_an_example_without_values() -> None:
    (secret,) = k8s_kind("Secret")
    assert "data" not in secret
    assert all(value == "" for value in secret["stringData"].values())


# --- alerts and the dashboard name real metrics ---------------------------------------------------


def dualmm_metric_names() -> set[str]:
    """The metrics dualmm/metrics.py documents (its table; `{a,b}` expanded)."""
    doc = dualmm.metrics.__doc__ or ""
    names = set()
    for row in re.findall(r"^\| (dualmm_\S+) \|", doc, re.MULTILINE):
        parts = re.split(r"\{([^}]*)\}", row)
        choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
        names |= {"".join(c) for c in product(*choices)}
    return names


def test_every_metric_the_code_creates_is_documented_in_metrics_py() -> None:
    documented = dualmm_metric_names()
    created = set()
    for package in ("dualmm", "workflows", "activities"):
        for path in (ROOT / package).rglob("*.py"):
            created |= set(re.findall(r'create_\w+\(\s*"(dualmm_\w+)"', path.read_text()))
    assert created and created <= documented, created - documented


def temporal_sdk_names() -> bytes:
    """The Temporal SDK's metric names are compiled into its Core bridge."""
    import temporalio.bridge

    (bridge,) = Path(temporalio.bridge.__file__).parent.glob("temporal_sdk_bridge*")
    return bridge.read_bytes()


def used_metric_names() -> dict[str, set[str]]:
    exprs: dict[str, list[str]] = {}
    alerts = load_yaml(COMPOSE / "prometheus" / "alerts.yml")
    for group in alerts["groups"]:
        for rule in group["rules"]:
            exprs.setdefault(f"alert {rule['alert']}", []).append(rule["expr"])
    dashboard = json.loads((COMPOSE / "grafana" / "dashboards" / "dualmm.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            exprs.setdefault(f"panel {panel['title']}", []).append(target["expr"])
    used: dict[str, set[str]] = {}
    for where, texts in exprs.items():
        for text in texts:
            for name in re.findall(r"\b((?:dualmm|temporal)_[a-z0-9_]+)\b", text):
                used.setdefault(re.sub(r"_(bucket|sum|count)$", "", name), set()).add(where)
    return used


def test_alerts_cover_what_operators_must_hear_about() -> None:
    alerts = load_yaml(COMPOSE / "prometheus" / "alerts.yml")
    exprs = " ".join(r["expr"] for g in alerts["groups"] for r in g["rules"])
    assert 'temporal_workflow_failed{workflow_type="ActiveMarketWorkflow"}' in exprs
    assert "temporal_workflow_task_execution_failed" in exprs  # stuck
    assert 'dualmm_liquidation_stage_transitions{stage="AGGRESSIVE"}' in exprs  # past timeout
    assert 'dualmm_liquidation_stage_transitions{stage="MARKET"}' in exprs  # stop-loss
    assert "dualmm_venue_errors" in exprs
    assert "RecordActivityTaskHeartbeat" in exprs  # heartbeats lost
    assert re.search(r"\bup\{", exprs)


def test_alerts_and_dashboard_use_only_real_metric_names() -> None:
    ours = dualmm_metric_names()
    bridge = temporal_sdk_names()
    used = used_metric_names()
    assert any(n.startswith("dualmm_") for n in used)
    assert any(n.startswith("temporal_") for n in used)
    unknown = {
        name: where
        for name, where in used.items()
        if not (
            name in ours
            if name.startswith("dualmm_")
            else name.removeprefix("temporal_").encode() in bridge
        )
    }
    assert not unknown


def test_dashboard_shows_every_dualmm_metric() -> None:
    dashboard = json.loads((COMPOSE / "grafana" / "dashboards" / "dualmm.json").read_text())
    text = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    missing = {n for n in dualmm_metric_names() if n not in text}
    assert not missing
    datasource = load_yaml(COMPOSE / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    uid = datasource["datasources"][0]["uid"]
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {uid}


# --- Temporal Cloud: API key or mTLS -------------------------------------------------------------


def test_temporal_tls_from_settings(tmp_path: Path) -> None:
    from pydantic import ValidationError
    from temporalio.service import TLSConfig

    from dualmm.errors import UsageError
    from dualmm.runtime import temporal_tls

    assert temporal_tls(ProcessSettings(_env_file=None)) is False
    assert temporal_tls(ProcessSettings(temporal_api_key="k")) is True  # an API key implies TLS
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_bytes(b"CERT")
    key.write_bytes(b"KEY")
    tls = temporal_tls(ProcessSettings(temporal_tls_cert=cert, temporal_tls_key=key))
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key) == (b"CERT", b"KEY")
    with pytest.raises(ValidationError, match="go together"):
        ProcessSettings(temporal_tls_cert=cert)
    with pytest.raises(UsageError, match=r"missing\.key"):
        temporal_tls(
            ProcessSettings(temporal_tls_cert=cert, temporal_tls_key=tmp_path / "missing.key")
        )


def test_sim_server_binds_the_host_it_is_given() -> None:
    """Compose runs the simulator with --host 0.0.0.0; an address not on this machine is
    refused in one line (exit 2), which shows the option reaches the server."""
    import subprocess
    import sys

    dualmm_bin = Path(sys.executable).parent / "dualmm"
    done = subprocess.run(
        [str(dualmm_bin), "sim-server", "--host", "203.0.113.7", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: cannot listen on 203.0.113.7:0")
    assert "Traceback" not in done.stderr
