"""No OAuth code, state, token, password or email in any log line: the gateway and the Oura
simulator run as the real processes (`python -m gateway`, `python -m oura_simulator`) with
DEBUG logs, the OAuth flow is driven through them over HTTP, and every line they wrote is read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet

from schemas.settings import DatabaseSettings
from tests.gateway import web
from tests.gateway.processes import free_port, running

PASSWORD = "log-test pass phrase 9417"


def _lines(*logs: Path) -> list[str]:
    lines = [line for log in logs for line in log.read_text().splitlines() if line.strip()]
    for line in lines:
        json.loads(line)  # every line is structured
    return lines


@pytest.mark.parametrize("access_log", [False, True], ids=["access-log-off", "access-log-on"])
async def test_oauth_flow_leaves_no_secret_in_any_log_line(
    db: asyncpg.Pool, db_settings: DatabaseSettings, tmp_path: Path, access_log: bool
) -> None:
    sim_port, gw_port = free_port(), free_port()
    sim, gateway = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{gw_port}"
    callback_uri = f"{gateway}/api/callback"
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "DEBUG",
        "DB_NAME": db_settings.name,
        "JWT_SECRET": "log-test-" + Fernet.generate_key().decode(),
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "OURA_CLIENT_ID": "simulator-client",
        "OURA_CLIENT_SECRET": "simulator-secret",
        "OURA_AUTHORIZE_URL": f"{sim}/oauth/authorize",
        "OURA_TOKEN_URL": f"{sim}/oauth/token",
        "OURA_REVOKE_URL": f"{sim}/oauth/revoke",
        "OURA_API_BASE_URL": sim,
        "OURA_REDIRECT_URI": callback_uri,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(gw_port),
        "GATEWAY_METRICS_PORT": str(free_port()),
        "GATEWAY_ACCESS_LOG": str(access_log).lower(),
    }
    sim_log, gw_log = tmp_path / "simulator.log", tmp_path / "gateway.log"
    sim_args = ["-m", "oura_simulator", "--port", str(sim_port), "--users", "1"]
    sim_args += ["--redirect-uri", callback_uri]
    email = f"log-test-{gw_port}@example.com"
    secrets_seen: list[str] = [email, PASSWORD]
    with (
        running(sim_args, env, sim_log, f"{sim}/_sim/stats"),
        running(["-m", "gateway"], env, gw_log, f"{gateway}/health"),
    ):
        async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
            await client.post("/api/register", json={"email": email, "password": PASSWORD})
            wrong = await client.post("/api/login", json={"email": email, "password": "nope" * 3})
            assert wrong.status_code == 401
            login = await client.post("/api/login", json={"email": email, "password": PASSWORD})
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            secrets_seen.append(token)
            headers = {"Authorization": f"Bearer {token}"}
            params = await web.consent(await web.authorize(client, headers, PASSWORD))
            nonce = web.connect_cookie(client)
            secrets_seen += [params["code"], params["state"], nonce]
            secrets_seen += [c.value for c in client.cookies.jar if c.value]
            connected = await client.get("/api/callback", params=params)
            assert connected.status_code == 200, connected.text
            replayed = await client.get(
                "/api/callback", params=params, headers={"Cookie": f"myhealth_connect={nonce}"}
            )
            assert replayed.status_code == 400
            assert (await client.post("/api/oauth/refresh", headers=headers)).status_code == 200
            assert (
                await client.delete("/api/oauth/connection", headers=headers)
            ).status_code == 200

    lines = _lines(sim_log, gw_log)
    assert any('"service": "gateway"' in line for line in lines)
    leaked = [(s, line) for s in secrets_seen for line in lines if s in line]
    assert not leaked
    request_lines = [line for line in lines if "GET /api/callback" in line]
    if access_log:
        assert request_lines, "GATEWAY_ACCESS_LOG=true writes request lines"
        assert all("code=[REDACTED]" in line for line in request_lines)
    else:
        assert not [line for line in lines if '"logger": "uvicorn.access"' in line]
