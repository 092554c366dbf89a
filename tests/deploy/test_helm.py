"""Rendered Helm chart: pod security, probes, autoscaling, jobs, secrets, Istio and monitoring."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import CHART, ENVIRONMENTS, RenderFn

WORKLOADS = {"Deployment", "CronJob", "Job"}


def _values(env: str) -> dict[str, Any]:
    base = yaml.safe_load((CHART / "values.yaml").read_text("utf-8"))
    override = yaml.safe_load((CHART / f"values-{env}.yaml").read_text("utf-8"))

    def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    return merge(base, override)


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "CronJob":
        obj = obj["spec"]["jobTemplate"]
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def _by_kind(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_pod_security(render: RenderFn, env: str) -> None:
    workloads = [o for o in render(env) if o["kind"] in WORKLOADS]
    assert {o["kind"] for o in workloads} == WORKLOADS
    for obj in workloads:
        spec = _pod_spec(obj)
        name = obj["metadata"]["name"]
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, name
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), name
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in sc["capabilities"], name
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] >= 10000, name
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{name} {kind}"
            mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{name}: read-only root needs a writable /tmp"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_deployments_have_probes(render: RenderFn, env: str) -> None:
    deployments = _by_kind(render(env), "Deployment")
    assert set(deployments) == {"myhealth-gateway", "myhealth-processor", "myhealth-webhooks"}
    for name, obj in deployments.items():
        for c in _pod_spec(obj)["containers"]:
            assert c["livenessProbe"] and c["readinessProbe"], name
    gw = _pod_spec(deployments["myhealth-gateway"])["containers"][0]
    assert gw["livenessProbe"]["httpGet"]["path"] == "/health"
    assert gw["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert gw["args"] == ["gateway"]
    proc = _pod_spec(deployments["myhealth-processor"])["containers"][0]
    assert proc["args"] == ["stream_processor", "worker"]
    fetcher = _pod_spec(deployments["myhealth-webhooks"])["containers"][0]
    assert fetcher["args"] == ["collector", "webhooks"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_autoscaling_bounds(render: RenderFn, env: str) -> None:
    objs = render(env)
    hpas = _by_kind(objs, "HorizontalPodAutoscaler")
    gw, proc = hpas["myhealth-gateway"]["spec"], hpas["myhealth-processor"]["spec"]
    partitions = _values(env)["kafka"]["partitions"]
    assert proc["minReplicas"] >= 2 or env == "dev"
    assert proc["maxReplicas"] <= partitions, "more consumers than partitions would idle"
    if env != "dev":
        assert (gw["minReplicas"], gw["maxReplicas"]) == (3, 10)
        assert proc["minReplicas"] == 2
    for spec in (gw, proc):
        assert spec["minReplicas"] <= spec["maxReplicas"]
    # The replica count belongs to the HPA, not to the Deployment.
    for name in hpas:
        assert "replicas" not in _by_kind(objs, "Deployment")[name]["spec"]
    pdbs = _by_kind(objs, "PodDisruptionBudget")
    assert set(pdbs) == {"myhealth-gateway", "myhealth-processor"}
    gw_pdb = pdbs["myhealth-gateway"]["spec"]
    if "minAvailable" in gw_pdb:
        assert gw_pdb["minAvailable"] < gw["minReplicas"], "a PDB at minReplicas blocks drains"


def test_processor_cannot_outscale_partitions(helm_fails: Any) -> None:
    err = helm_fails("prod", "processor.autoscaling.maxReplicas=7")
    assert "must not exceed kafka.partitions" in err


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_partitions_match_the_topic_registry(env: str) -> None:
    topics = (CHART.parents[1] / "schemas" / "topics.py").read_text("utf-8")
    match = re.search(r"^RAW_PARTITIONS\s*=\s*(\d+)", topics, re.M)
    assert match, "schemas/topics.py no longer defines RAW_PARTITIONS"
    assert _values(env)["kafka"]["partitions"] == int(match.group(1))


def test_collector_cronjob(render: RenderFn) -> None:
    cron = _by_kind(render("prod"), "CronJob")["myhealth-collector"]["spec"]
    assert cron["schedule"] == "0 1 * * *"
    assert cron["timeZone"] == "Etc/UTC"
    assert cron["concurrencyPolicy"] == "Forbid"
    assert cron["startingDeadlineSeconds"] > 0
    job = cron["jobTemplate"]["spec"]
    assert 0 < job["backoffLimit"] <= 5
    assert job["activeDeadlineSeconds"] > 0
    pod = job["template"]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["containers"][0]["args"] == ["collector", "run"]
    assert pod["metadata"]["annotations"]["sidecar.istio.io/nativeSidecar"] == "true"


def test_migrations_hook_runs_after_its_secrets(render: RenderFn) -> None:
    objs = render("prod")
    job = _by_kind(objs, "Job")["myhealth-migrations"]
    ann = job["metadata"]["annotations"]
    assert ann["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert _pod_spec(job)["containers"][0]["args"] == ["migrations", "upgrade"]
    job_weight = int(ann["helm.sh/hook-weight"])
    needed = {
        ref["valueFrom"]["secretKeyRef"]["name"]
        for ref in _pod_spec(job)["containers"][0]["env"]
        if "valueFrom" in ref
    }
    externals = _by_kind(objs, "ExternalSecret")
    for name in needed:
        es_ann = externals[name]["metadata"]["annotations"]
        assert "pre-install" in es_ann["helm.sh/hook"], f"{name} must exist before the hook"
        assert int(es_ann["helm.sh/hook-weight"]) < job_weight
        assert externals[name]["spec"]["target"]["creationPolicy"] == "Orphan"
    sa = _by_kind(objs, "ServiceAccount")["myhealth-migrations"]
    assert int(sa["metadata"]["annotations"]["helm.sh/hook-weight"]) < job_weight


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_env_vars_are_read_by_the_settings(
    render: RenderFn, env: str, expected_env: set[str]
) -> None:
    objs = render(env)
    config = _by_kind(objs, "ConfigMap")["myhealth-config"]["data"]
    assert set(config) <= expected_env, sorted(set(config) - expected_env)
    for obj in objs:
        if obj["kind"] not in WORKLOADS:
            continue
        for c in _pod_spec(obj)["containers"]:
            names = {e["name"] for e in c.get("env", [])}
            unknown = names - expected_env
            assert not unknown, f"{obj['metadata']['name']} gets {sorted(unknown)}"


def test_kafka_auth_modes(render: RenderFn) -> None:
    iam = _by_kind(render("prod"), "ConfigMap")["myhealth-config"]["data"]
    assert iam["KAFKA_SASL_MECHANISM"] == "OAUTHBEARER"
    assert iam["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert iam["KAFKA_AWS_REGION"]
    assert iam["KAFKA_REPLICATION_FACTOR"] == "3"
    prod_env = {
        e["name"]
        for e in _pod_spec(_by_kind(render("prod"), "Deployment")["myhealth-processor"])[
            "containers"
        ][0]["env"]
    }
    assert "KAFKA_SASL_PASSWORD" not in prod_env, "IAM needs no password"
    staging = render("staging")
    scram = _by_kind(staging, "ConfigMap")["myhealth-config"]["data"]
    assert scram["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert "KAFKA_AWS_REGION" not in scram
    assert "myhealth-kafka" in _by_kind(staging, "ExternalSecret")
    staging_env = {
        e["name"]
        for e in _pod_spec(_by_kind(staging, "Deployment")["myhealth-processor"])["containers"][0][
            "env"
        ]
    }
    assert {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"} <= staging_env


def test_secrets_come_from_secrets_manager(render: RenderFn) -> None:
    objs = render("prod")
    store = _by_kind(objs, "SecretStore")["myhealth-aws"]["spec"]["provider"]["aws"]
    assert store["service"] == "SecretsManager"
    assert store["auth"]["jwt"]["serviceAccountRef"]["name"] == "myhealth-external-secrets"
    externals = _by_kind(objs, "ExternalSecret")
    keys = {ref["remoteRef"]["key"] for es in externals.values() for ref in es["spec"]["data"]}
    assert all(k.startswith("myhealth/prod/") for k in keys), keys
    assert not _by_kind(objs, "Secret"), "the chart never carries secret values"


def test_image_pinned_by_digest(render: RenderFn) -> None:
    digest = "sha256:" + "a" * 64
    for obj in render("prod", f"image.digest={digest}"):
        if obj["kind"] in WORKLOADS:
            for c in _pod_spec(obj)["containers"]:
                assert c["image"].endswith("@" + digest)
                assert c["imagePullPolicy"] == "Always"


def test_irsa_annotations(render: RenderFn) -> None:
    arn = "arn:aws:iam::123456789012:role/myhealth-prod-processor"
    objs = render("prod", f"serviceAccounts.processor.roleArn={arn}")
    sa = _by_kind(objs, "ServiceAccount")["myhealth-processor"]
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == arn
    dep = _by_kind(objs, "Deployment")["myhealth-processor"]
    assert _pod_spec(dep)["serviceAccountName"] == "myhealth-processor"


def test_istio_policies(render: RenderFn) -> None:
    objs = render("prod")
    peer = next(iter(_by_kind(objs, "PeerAuthentication").values()))
    assert peer["spec"]["mtls"]["mode"] == "STRICT"
    dr = _by_kind(objs, "DestinationRule")["myhealth-gateway"]["spec"]["trafficPolicy"]
    assert dr["tls"]["mode"] == "ISTIO_MUTUAL"
    assert dr["outlierDetection"]["consecutive5xxErrors"] > 0
    vs = _by_kind(objs, "VirtualService")["myhealth-gateway"]["spec"]
    prefixes = [m["uri"] for route in vs["http"] for m in route["match"]]
    assert {"prefix": "/api/"} in prefixes and {"exact": "/health"} in prefixes
    policies = _by_kind(objs, "AuthorizationPolicy")
    assert set(policies) == {
        "myhealth-gateway",
        "myhealth-gateway-webhooks",
        "myhealth-processor",
        "myhealth-collector",
        "myhealth-webhooks",
    }
    gw_rules = policies["myhealth-gateway"]["spec"]["rules"]
    ingress = [r for r in gw_rules if "/metrics" not in r["to"][0]["operation"]["paths"]]
    metrics = [r for r in gw_rules if r["to"][0]["operation"]["paths"] == ["/metrics"]]
    assert "istio-ingressgateway" in ingress[0]["from"][0]["source"]["principals"][0]
    assert "prometheus" in metrics[0]["from"][0]["source"]["principals"][0]
    for name in ("myhealth-processor", "myhealth-collector", "myhealth-webhooks"):
        rules = policies[name]["spec"]["rules"]
        assert len(rules) == 1 and rules[0]["to"][0]["operation"]["paths"] == ["/metrics"]


def test_network_policies(render: RenderFn) -> None:
    policies = _by_kind(render("prod"), "NetworkPolicy")
    default = policies["myhealth-default"]["spec"]
    assert default["policyTypes"] == ["Ingress", "Egress"]
    (probes,) = default["ingress"]
    assert [p["port"] for p in probes["ports"]] == [15020], "only the kubelet's probes"
    for name in (
        "myhealth-gateway",
        "myhealth-processor",
        "myhealth-collector",
        "myhealth-webhooks",
    ):
        assert name in policies


def test_monitoring(render: RenderFn) -> None:
    objs = render("prod")
    monitors = _by_kind(objs, "ServiceMonitor")
    assert set(monitors) == {
        "myhealth-gateway",
        "myhealth-processor",
        "myhealth-collector",
        "myhealth-webhooks",
    }
    services = _by_kind(objs, "Service")
    for monitor in monitors.values():
        selector = monitor["spec"]["selector"]["matchLabels"]
        port = monitor["spec"]["endpoints"][0]["port"]
        matching = [
            s
            for s in services.values()
            if selector.items() <= s["metadata"]["labels"].items()
            and port in {p["name"] for p in s["spec"]["ports"]}
        ]
        assert matching, f"ServiceMonitor {monitor['metadata']['name']} selects no Service port"
    rule = next(iter(_by_kind(objs, "PrometheusRule").values()))
    shared = yaml.safe_load((CHART / "rules" / "myhealth.rules.yml").read_text("utf-8"))
    assert rule["spec"]["groups"] == shared["groups"]
    dashboards = [
        o
        for o in _by_kind(objs, "ConfigMap").values()
        if o["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    files = sorted(p.name for p in Path(CHART / "dashboards").glob("*.json"))
    assert sorted(k for d in dashboards for k in d["data"]) == files


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_gateway_sees_client_addresses_through_the_mesh(render: RenderFn, env: str) -> None:
    """Behind the Istio ingress gateway one proxy appends to X-Forwarded-For: without the hop
    count every caller would share the sidecar's address and one throttle."""
    gateway = next(
        o
        for o in render(env)
        if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("gateway")
    )
    container = _pod_spec(gateway)["containers"][0]
    env_vars = {e["name"]: e.get("value") for e in container["env"]}
    assert env_vars["GATEWAY_TRUSTED_PROXY_HOPS"] == "1"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_gateway_metrics_have_their_own_port(render: RenderFn, env: str) -> None:
    """Prometheus scrapes the metrics Service's port; the API Service the ingress routes to has
    no metrics port, and the mesh lets only Prometheus reach /metrics, only there."""
    objs = render(env)
    services = {
        o["metadata"]["name"]: o
        for o in objs
        if o["kind"] == "Service"
        and o["metadata"]["name"].split("-")[-2:][-1] in ("gateway", "metrics")
    }
    api = next(s for n, s in services.items() if n.endswith("gateway"))
    metrics = next(s for n, s in services.items() if n.endswith("gateway-metrics"))
    assert [p["name"] for p in api["spec"]["ports"]] == ["http"]
    assert [p["port"] for p in metrics["spec"]["ports"]] == [9100]
    monitor = next(
        o
        for o in objs
        if o["kind"] == "ServiceMonitor" and o["metadata"]["name"].endswith("gateway")
    )
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    policy = next(
        o
        for o in objs
        if o["kind"] == "AuthorizationPolicy" and o["metadata"]["name"].endswith("gateway")
    )
    rules = {
        tuple(op["operation"].get("paths", [])): op["operation"].get("ports")
        for rule in policy["spec"]["rules"]
        for op in rule["to"]
    }
    assert rules[("/metrics",)] == ["9100"]
    assert rules[("/api", "/api/*", "/health")] == ["8080"]


def _page_paths() -> set[str]:
    """Every path the gateway's web pages answer, read from their route decorators (the deploy
    tests' environment has no FastAPI), with the export's format filled in."""
    pages = CHART.parent.parent / "gateway" / "pages"
    route = re.compile(r'^@router\.(?:get|post)\("([^"]+)"\)', re.MULTILINE)
    paths = {p for f in pages.glob("*.py") for p in route.findall(f.read_text("utf-8"))}
    return {p.replace("{fmt}", fmt) for p in paths for fmt in ("csv", "json")}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_page_is_routed_and_allowed(render: RenderFn, env: str) -> None:
    """The ingress routes each page of the gateway and the mesh lets the ingress reach it (GET
    and POST only); nothing else outside /api is opened."""
    objs = render(env)
    vs = _by_kind(objs, "VirtualService")["myhealth-gateway"]["spec"]
    pages = next(route for route in vs["http"] if route["name"] == "pages")
    routed = {m["uri"]["exact"] for m in pages["match"] if "exact" in m["uri"]}
    assert routed == _page_paths()
    assert {"prefix": "/static/"} in [m["uri"] for m in pages["match"]]
    policy = _by_kind(objs, "AuthorizationPolicy")["myhealth-gateway"]["spec"]
    operations = [op["operation"] for rule in policy["rules"] for op in rule["to"]]
    page_rule = next(op for op in operations if "/signin" in op["paths"])
    assert set(page_rule["paths"]) == routed | {"/static/*"}
    assert page_rule["methods"] == ["GET", "POST"] and page_rule["ports"] == ["8080"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_database_tls_verifies_the_server(render: RenderFn, env: str) -> None:
    """verify-full against the RDS CA bundle the image ships (require accepts any certificate)."""
    config = next(
        o
        for o in render(env)
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-config")
    )
    assert config["data"]["SSL_MODE"] == "verify-full"
    bundle = config["data"]["SSL_ROOT_CERT"]
    dockerfile = (CHART.parent.parent / "Dockerfile").read_text("utf-8")
    assert f"rds-global-bundle.pem {bundle}" in dockerfile


def _https_egress(objs: list[dict[str, Any]]) -> set[str]:
    """Components whose pods a NetworkPolicy lets open HTTPS connections."""
    allowed = set()
    for policy in (o for o in objs if o["kind"] == "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            if any(p.get("port") == 443 for p in rule.get("ports", [])):
                labels = policy["spec"]["podSelector"]["matchLabels"]
                allowed.add(labels.get("app.kubernetes.io/component", "*every pod*"))
    return allowed


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_https_egress_only_where_needed(render: RenderFn, env: str) -> None:
    """Oura's API for the gateway, the collector and the webhook fetcher; STS for MSK IAM only
    when Kafka uses it."""
    values = _values(env)
    iam = values["kafka"]["saslMechanism"] == "OAUTHBEARER"
    expected = {"gateway", "collector", "webhooks"} | (
        {"processor", "migrations"} if iam else set()
    )
    assert _https_egress(render(env)) == expected


# ---------------------------------------------------------------- webhooks (issue #17)


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_webhook_receiver_is_reachable_without_a_jwt_on_its_path_only(
    render: RenderFn, env: str
) -> None:
    objs = render(env)
    values = _values(env)
    path = values["webhooks"]["receiverPath"]
    vs = _by_kind(objs, "VirtualService")["myhealth-gateway"]["spec"]
    first = vs["http"][0]
    # First, so that no broader route (a prefix) can ever take the receiver's requests.
    assert first["name"] == "oura-webhooks"
    assert first["match"] == [{"uri": {"exact": path}}]
    assert "retries" not in first
    policy = _by_kind(objs, "AuthorizationPolicy")["myhealth-gateway-webhooks"]["spec"]
    (rule,) = policy["rules"]
    assert "requestPrincipals" not in rule["from"][0]["source"], "no JWT asked"
    assert "istio-ingressgateway" in rule["from"][0]["source"]["principals"][0]
    (operation,) = rule["to"]
    assert operation["operation"]["paths"] == [path]
    assert sorted(operation["operation"]["methods"]) == ["GET", "POST"]
    # Oura calls the receiver at one of the hosts the ingress serves.
    config = _by_kind(objs, "ConfigMap")["myhealth-config"]["data"]
    match = re.fullmatch(r"https://([^/]+)(/.*)", config["OURA_WEBHOOK_CALLBACK_URL"])
    assert match, config["OURA_WEBHOOK_CALLBACK_URL"]
    assert match[1] in values["istio"]["gateway"]["hosts"] and match[2] == path


def test_webhook_route_is_rate_limited_at_the_ingress_gateway(render: RenderFn) -> None:
    objs = render("prod")
    (limit,) = _by_kind(objs, "EnvoyFilter").values()
    assert limit["metadata"]["namespace"] == "istio-system"
    assert limit["spec"]["workloadSelector"]["labels"] == {"istio": "ingressgateway"}
    route_patch = next(p for p in limit["spec"]["configPatches"] if p["applyTo"] == "HTTP_ROUTE")
    assert route_patch["match"]["routeConfiguration"]["vhost"]["route"]["name"] == "oura-webhooks"
    config = route_patch["patch"]["value"]["typed_per_filter_config"]
    bucket = config["envoy.filters.http.local_ratelimit"]["value"]["token_bucket"]
    assert bucket["max_tokens"] > 0 and bucket["tokens_per_fill"] > 0
    filter_patch = next(p for p in limit["spec"]["configPatches"] if p["applyTo"] == "HTTP_FILTER")
    assert filter_patch["patch"]["value"]["name"] == "envoy.filters.http.local_ratelimit"


def test_webhook_fetcher_and_subscription_cronjob(render: RenderFn) -> None:
    objs = render("prod")
    fetcher = _pod_spec(_by_kind(objs, "Deployment")["myhealth-webhooks"])["containers"][0]
    assert fetcher["args"] == ["collector", "webhooks"]
    assert {"DB_PASSWORD", "OURA_CLIENT_SECRET", "TOKEN_ENCRYPTION_KEYS"} <= set(_env(fetcher))
    assert fetcher["ports"][0]["name"] == "metrics"
    cron = _by_kind(objs, "CronJob")["myhealth-collector-subscriptions"]["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    pod = _pod_spec(_by_kind(objs, "CronJob")["myhealth-collector-subscriptions"])
    (ensure,) = pod["initContainers"]
    (renew,) = pod["containers"]
    assert ensure["args"] == ["collector", "subscriptions", "ensure"]
    assert renew["args"] == ["collector", "subscriptions", "renew"]
    for container in (ensure, renew):
        secret = _env(container)["OURA_WEBHOOK_VERIFICATION_TOKEN"]["secretKeyRef"]
        assert secret == {"name": "myhealth-oura", "key": "webhook_verification_token"}
    assert float(_env(renew)["COLLECTOR_METRICS_LINGER_S"]) > 0, "scraped before it exits"
    # The gateway checks the handshake's token: it gets the same secret.
    gateway = _pod_spec(_by_kind(objs, "Deployment")["myhealth-gateway"])["containers"][0]
    assert "OURA_WEBHOOK_VERIFICATION_TOKEN" in _env(gateway)
    oura = _by_kind(objs, "ExternalSecret")["myhealth-oura"]["spec"]["data"]
    assert {d["remoteRef"]["property"] for d in oura} == {
        "client_id",
        "client_secret",
        "webhook_verification_token",
    }


def test_webhooks_can_be_switched_off(render: RenderFn) -> None:
    objs = render("prod", "webhooks.enabled=false")
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    assert not {n for n in names if "webhook" in n[1] or "subscriptions" in n[1]}, names
    config = _by_kind(objs, "ConfigMap")["myhealth-config"]["data"]
    assert "OURA_WEBHOOK_CALLBACK_URL" not in config
    vs = _by_kind(objs, "VirtualService")["myhealth-gateway"]["spec"]
    assert "oura-webhooks" not in {route["name"] for route in vs["http"]}
    oura = _by_kind(objs, "ExternalSecret")["myhealth-oura"]["spec"]["data"]
    assert {d["remoteRef"]["property"] for d in oura} == {"client_id", "client_secret"}
