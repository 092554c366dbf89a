"""docker-compose.yml wiring: environment, ports, dependencies, Prometheus and Grafana."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import ROOT, tool

COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / "compose.env.example"
MYHEALTH_SERVICES = {
    "migrations",
    "simulator",
    "collector",
    "webhooks",
    "subscriptions",
    "processor",
    "gateway",
}


def _example_env() -> dict[str, str]:
    env = {}
    for line in ENV_EXAMPLE.read_text("utf-8").splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    return env


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Enough of compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$ for these tests."""

    def sub(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        if env.get(name):
            return env[name]
        if op == ":?":
            raise AssertionError(f"required variable {name} is not set: {arg}")
        return arg if op == ":-" else ""

    text = text.replace("$$", "\0")
    text = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}", sub, text)
    return text.replace("\0", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file as docker compose sees it: interpolated, with YAML merge keys applied."""
    data = yaml.safe_load(_interpolate(COMPOSE.read_text("utf-8"), _example_env()))
    assert isinstance(data, dict)
    return data


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _depends(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def test_compose_go_loads_the_file() -> None:
    """compose-go (what `docker compose config` runs) accepts the file: schema, references."""
    composecheck = tool("composecheck")
    env = {**os.environ, **_example_env()}
    result = subprocess.run(
        [composecheck, str(COMPOSE)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "services:" in result.stdout


def test_required_secrets_are_enforced() -> None:
    """Without .env the secrets are missing and compose refuses, rather than using defaults."""
    with pytest.raises(AssertionError, match="required variable"):
        _interpolate(COMPOSE.read_text("utf-8"), {})


def test_myhealth_services_use_the_one_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= MYHEALTH_SERVICES
    images = {services[name]["image"] for name in MYHEALTH_SERVICES}
    assert len(images) == 1
    for name in MYHEALTH_SERVICES:
        svc = services[name]
        assert svc["build"]["dockerfile"] == "Dockerfile"
        assert svc.get("read_only") is True, name
        assert "ALL" in svc.get("cap_drop", []), name


def test_every_env_var_is_read_by_the_settings(
    compose: dict[str, Any], expected_env: set[str]
) -> None:
    for name in MYHEALTH_SERVICES:
        unknown = set(_env(compose["services"][name])) - expected_env
        assert not unknown, f"{name} gets variables no settings read: {sorted(unknown)}"


def test_services_get_what_they_need(compose: dict[str, Any]) -> None:
    services = compose["services"]
    db = {"DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME", "SSL_MODE"}
    kafka = {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL", "KAFKA_REPLICATION_FACTOR"}
    oura = {"OURA_CLIENT_ID", "OURA_CLIENT_SECRET", "OURA_API_BASE_URL", "OURA_TOKEN_URL"}
    webhook = {"OURA_WEBHOOK_VERIFICATION_TOKEN", "OURA_WEBHOOK_CALLBACK_URL"}
    collector = db | kafka | oura | {"TOKEN_ENCRYPTION_KEYS", "COLLECTOR_METRICS_PORT"}
    needs = {
        "migrations": db | kafka,
        "collector": collector | webhook,
        "webhooks": collector,
        "subscriptions": oura | webhook | {"TOKEN_ENCRYPTION_KEYS"},
        "processor": db | kafka | {"PROCESSOR_METRICS_PORT"},
        "gateway": db
        | oura
        | {"TOKEN_ENCRYPTION_KEYS", "JWT_SECRET", "GATEWAY_PORT"}
        | {"OURA_WEBHOOK_VERIFICATION_TOKEN"},
    }
    for name, wanted in needs.items():
        missing = wanted - set(_env(services[name]))
        assert not missing, f"{name} lacks {sorted(missing)}"


def test_connection_settings_point_at_the_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    kafka_listeners = _env(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    for name in MYHEALTH_SERVICES - {"simulator", "subscriptions"}:
        env = _env(services[name])
        assert env["DB_HOST"] in services and env["DB_PORT"] == "5432", name
        host, port = env["KAFKA_BOOTSTRAP_SERVERS"].split(":")
        assert host in services and f"//{host}:{port}" in kafka_listeners, name
        assert env["KAFKA_REPLICATION_FACTOR"] == "1", "single local broker"
    for name in ("collector", "webhooks", "subscriptions", "gateway"):
        env = _env(services[name])
        base = env["OURA_API_BASE_URL"]
        assert base.startswith("http://simulator:8089"), base
        assert env["OURA_TOKEN_URL"].startswith("http://simulator:8089")
    simulator_cmd = services["simulator"]["command"]
    assert simulator_cmd[:1] == ["oura_simulator"] and "8089" in simulator_cmd


def test_kafka_is_the_pinned_kraft_broker(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    env = _env(kafka)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", "topics are created by migrations"


def test_dependencies_exist_and_are_ordered(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for dep, condition in _depends(svc).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no healthcheck for {name}"
            if condition == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{dep} is a one-shot"
    assert _depends(services["migrations"]) == {
        "postgres": "service_healthy",
        "kafka": "service_healthy",
    }
    for name in ("collector", "webhooks", "processor", "gateway"):
        assert _depends(services[name])["migrations"] == "service_completed_successfully"
    # Oura's handshake reaches the receiver while the subscriptions are created.
    assert _depends(services["subscriptions"])["gateway"] == "service_healthy"


def test_ports_line_up(compose: dict[str, Any]) -> None:
    services = compose["services"]
    gateway_port = _env(services["gateway"])["GATEWAY_PORT"]
    published = [str(p).rsplit(":", 1)[-1] for p in services["gateway"]["ports"]]
    assert gateway_port in published
    assert f"127.0.0.1:{gateway_port}/health" in str(services["gateway"]["healthcheck"]["test"])
    assert _env(services["processor"])["PROCESSOR_METRICS_PORT"] in services["processor"]["expose"]
    # The gateway's metrics stay inside the compose network: never on the published API port.
    metrics_port = _env(services["gateway"])["GATEWAY_METRICS_PORT"]
    assert metrics_port in services["gateway"]["expose"] and metrics_port not in published
    assert _env(services["collector"])["COLLECTOR_METRICS_PORT"] in services["collector"]["expose"]
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"


def test_prometheus_scrapes_every_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text("utf-8"))
    targets = {}
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            for target in static["targets"]:
                targets[target] = static.get("labels", {}).get("myhealth_service")
    want = {
        f"gateway:{_env(services['gateway'])['GATEWAY_METRICS_PORT']}": "gateway",
        f"processor:{_env(services['processor'])['PROCESSOR_METRICS_PORT']}": "processor",
        f"collector:{_env(services['collector'])['COLLECTOR_METRICS_PORT']}": "collector",
        f"webhooks:{_env(services['webhooks'])['COLLECTOR_METRICS_PORT']}": "webhooks",
    }
    for target, label in want.items():
        assert targets.get(target) == label, f"Prometheus does not scrape {target}"
    mounts = " ".join(services["prometheus"]["volumes"])
    assert "./helm/myhealth/rules:/etc/prometheus/rules" in mounts
    assert any(r.startswith("/etc/prometheus/rules/") for r in config["rule_files"])


def test_grafana_is_provisioned(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = grafana["volumes"]
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    assert any(
        m.startswith("./helm/myhealth/dashboards:/var/lib/grafana/dashboards") for m in mounts
    )
    sources = yaml.safe_load((provisioning / "datasources" / "datasources.yml").read_text("utf-8"))
    pg = next(d for d in sources["datasources"] if d["type"] == "grafana-postgresql-datasource")
    assert pg["user"] == "grafana_reader", "Grafana reads through the read-only role"
    assert pg["url"].split(":")[0] in compose["services"]
    assert pg["secureJsonData"]["password"] == "$GRAFANA_DB_PASSWORD"
    assert "GRAFANA_DB_PASSWORD" in _env(grafana)
    providers = yaml.safe_load((provisioning / "dashboards" / "dashboards.yml").read_text("utf-8"))
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboards = sorted((ROOT / "helm" / "myhealth" / "dashboards").glob("*.json"))
    assert dashboards, "at least the placeholder dashboard"
    uids = {d["uid"] for d in sources["datasources"]}
    for path in dashboards:
        text = path.read_text("utf-8")
        for uid in re.findall(r'"uid":\s*"(myhealth-[a-z]+)"', text):
            assert uid in uids or uid == Path(path).stem, f"{path.name} uses unknown uid {uid}"


def test_grafana_reader_role_is_created_before_migrations() -> None:
    script = ROOT / "deploy" / "postgres" / "initdb" / "10-grafana-reader.sh"
    text = script.read_text("utf-8")
    assert "CREATE ROLE grafana_reader" in text
    assert "default_transaction_read_only" in text
    assert os.access(script, os.X_OK)


def test_webhooks_reach_the_gateways_receiver(compose: dict[str, Any]) -> None:
    services = compose["services"]
    gateway = _env(services["gateway"])
    # The simulator delivers inside the compose network, to the gateway's API port.
    for name in ("subscriptions", "collector"):
        callback = _env(services[name])["OURA_WEBHOOK_CALLBACK_URL"]
        assert callback.startswith(f"http://gateway:{gateway['GATEWAY_PORT']}/"), callback
    token = {_env(services[n])["OURA_WEBHOOK_VERIFICATION_TOKEN"] for n in ("gateway", "collector")}
    assert len(token) == 1, "the gateway checks the token the subscriptions registered"
    assert services["webhooks"]["command"] == ["collector", "webhooks"]
    assert services["subscriptions"]["command"] == ["collector", "subscriptions", "ensure"]
    assert services["subscriptions"]["restart"] == "no"
    assert "--sync-every" in services["simulator"]["command"]
