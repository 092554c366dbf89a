"""Liveness, readiness against the real database and broker, Prometheus metrics, settings."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from collector.settings import CollectorSettings
from gateway.app import create_app
from gateway.metrics import render_metrics
from gateway.settings import DEVELOPMENT_JWT_SECRET, GatewaySettings
from schemas.settings import DatabaseSettings, KafkaSettings
from tests.gateway.conftest import make_settings
from tests.gateway.factories import new_user

ROOT = Path(__file__).resolve().parents[2]


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "kafka": "ok"}}


async def test_not_ready_when_kafka_is_unreachable(db, db_settings) -> None:
    app = create_app(
        make_settings(), database=db_settings, kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9")
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            ready = await c.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "kafka": "unreachable"}


async def test_metrics(client: httpx.AsyncClient) -> None:
    _, headers = await new_user(client)
    await client.get("/api/sleep", headers=headers)
    await client.get("/api/sleep", params={"start_date": "bad"}, headers=headers)
    await client.get("/api/no-such-route")
    # Not on the API port: gateway.metrics.serve_metrics serves them on GATEWAY_METRICS_PORT.
    assert (await client.get("/metrics")).status_code == 404
    text = render_metrics()[0].decode()
    assert 'gateway_requests_total{method="GET",route="/api/sleep",status="200"}' in text
    assert 'gateway_requests_total{method="GET",route="/api/sleep",status="422"}' in text
    assert 'route="unmatched"' in text and "/api/no-such-route" not in text
    assert "gateway_request_duration_seconds_bucket" in text
    assert "gateway_db_pool_connections_in_use" in text


def test_settings_refuse_weak_secrets_outside_development() -> None:
    key = Fernet.generate_key().decode()
    cases = [
        ({"jwt_secret": DEVELOPMENT_JWT_SECRET, "token_encryption_keys": key}, "JWT_SECRET"),
        ({"jwt_secret": "short-secret", "token_encryption_keys": key}, "JWT_SECRET is 12"),
        ({"jwt_secret": "a" * 32, "token_encryption_keys": key}, "too predictable"),
        ({"jwt_secret": "s" * 40, "token_encryption_keys": key}, "too predictable"),
        ({"jwt_secret": "CHANGE-ME-a-long-random-string", "token_encryption_keys": key}, "place"),
        ({"jwt_secret": secrets.token_urlsafe(48), "token_encryption_keys": ""}, "TOKEN_ENCRYPT"),
    ]
    for values, message in cases:
        with pytest.raises(ValidationError, match=message):
            GatewaySettings(environment="production", **values)
    strong = secrets.token_urlsafe(32)
    GatewaySettings(environment="production", jwt_secret=strong, token_encryption_keys=key)
    GatewaySettings(environment="development")
    # A placeholder copied from deploy/compose.env.example is public in development too.
    with pytest.raises(ValidationError, match="placeholder"):
        GatewaySettings(environment="development", jwt_secret="CHANGE-ME-a-long-random-string")


def _without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}


def test_unset_environment_is_production_for_every_service(monkeypatch) -> None:
    monkeypatch.delenv("ENVIRONMENT")
    assert (
        GatewaySettings(jwt_secret=secrets.token_urlsafe(48), token_encryption_keys="k").environment
        == "production"
    )
    with pytest.raises(ValidationError, match="JWT_SECRET is unset or the development default"):
        GatewaySettings(token_encryption_keys="k")
    with pytest.raises(ValidationError, match="OURA_CLIENT_ID"):
        CollectorSettings(oura_client_id="")


def test_gateway_refuses_to_start_and_says_why() -> None:
    # No ENVIRONMENT at all: the gateway must treat it as production and refuse the defaults.
    env = _without("ENVIRONMENT", "JWT_SECRET", "TOKEN_ENCRYPTION_KEYS")
    result = subprocess.run(
        [sys.executable, "-m", "gateway"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "JWT_SECRET" in result.stderr and "TOKEN_ENCRYPTION_KEYS" in result.stderr
    assert "Traceback" not in result.stderr


def test_gateway_refuses_a_low_entropy_secret_in_production() -> None:
    env = _without("ENVIRONMENT")
    env.update(JWT_SECRET="a" * 32, TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode())
    result = subprocess.run(
        [sys.executable, "-m", "gateway"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "JWT_SECRET is too predictable" in result.stderr


def test_collector_refuses_to_start_without_credentials_by_default() -> None:
    env = _without("ENVIRONMENT", "OURA_CLIENT_ID", "OURA_CLIENT_SECRET", "TOKEN_ENCRYPTION_KEYS")
    result = subprocess.run(
        [sys.executable, "-m", "collector", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "OURA_CLIENT_ID" in result.stderr and "production" in result.stderr
    assert "Traceback" not in result.stderr


def test_served_over_http_with_nodelay(live_server) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", live_server.port)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while not received.endswith(b'{"status":"ok"}'):
            chunk = sock.recv(4096)
            assert chunk, received
            received += chunk
        # The accepted connection on the server side has TCP_NODELAY set.
        connections = list(live_server.server.server_state.connections)
        assert connections
        for protocol in connections:
            server_sock = protocol.transport.get_extra_info("socket")
            assert server_sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_compose_example_placeholders_are_refused_everywhere() -> None:
    """Copying deploy/compose.env.example unchanged must not start anything with its values."""
    example = dict(
        line.split("=", 1)
        for line in (ROOT / "deploy" / "compose.env.example").read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    )
    for name in ("DB_PASSWORD", "JWT_SECRET", "TOKEN_ENCRYPTION_KEYS"):
        assert "CHANGE-ME" in example[name]
    with pytest.raises(ValidationError, match="placeholder"):
        DatabaseSettings(password=example["DB_PASSWORD"])
    for field in ("jwt_secret", "token_encryption_keys"):
        name = field.upper()
        with pytest.raises(ValidationError, match=f"{name} is a placeholder"):
            GatewaySettings(environment="development", **{field: example[name]})
