"""Oura connect end to end against the simulator over real HTTP: authorize → simulator consent →
callback → encrypted tokens stored → status active; refresh; disconnect; forged, expired and
replayed `state`. The API's authorize answer is the gateway's connect page, which a browser
opens and signs in on (tests/gateway/web.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from gateway.security.oauth_state import StateClaims, new_nonce, sign_state
from gateway.settings import GatewaySettings
from oura_connection import TokenCipher
from oura_simulator.config import SimulatorConfig
from oura_simulator.state import Simulator
from tests.gateway import web
from tests.gateway.conftest import LiveServer, make_settings
from tests.gateway.factories import new_user


def _simulator_app(sim: Simulator) -> FastAPI:
    try:  # the simulator's own factory, when it has one
        from oura_simulator.app import create_app as create_simulator_app  # type: ignore

        return create_simulator_app(simulator=sim)  # type: ignore[no-any-return]
    except ImportError:
        from oura_simulator.oauth import oauth_router

        app = FastAPI()
        app.include_router(oauth_router(sim))
        return app


@pytest.fixture
def simulator() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator(SimulatorConfig(users=2, redirect_uris=("http://testserver/api/callback",)))
    with LiveServer(_simulator_app(sim)) as server:
        yield sim, server.url


@pytest.fixture
def settings(simulator: tuple[Simulator, str]) -> GatewaySettings:
    _, url = simulator
    return make_settings(
        oura_authorize_url=f"{url}/oauth/authorize",
        oura_token_url=f"{url}/oauth/token",
        oura_revoke_url=f"{url}/oauth/revoke",
        oura_api_base_url=url,
    )


async def _authorize(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    return await web.authorize(client, headers)


_consent = web.consent


async def test_connect_end_to_end(
    client: httpx.AsyncClient,
    db: asyncpg.Pool,
    simulator: tuple[Simulator, str],
    settings: GatewaySettings,
) -> None:
    sim, sim_url = simulator
    user_id, headers = await new_user(client)
    assert (await client.get("/api/connection", headers=headers)).json()["status"] == "none"

    redirect = await client.get("/api/oauth/authorize", headers=headers)
    assert redirect.status_code == 302
    assert redirect.headers["location"].startswith("http://testserver/connect/oura?for=")
    url = await _authorize(client, headers)
    assert url.startswith(sim_url)
    query = parse_qs(urlsplit(url).query)
    assert query["client_id"] == ["simulator-client"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["http://testserver/api/callback"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43

    callback = await _consent(url)
    connect_cookie = web.connect_cookie(client)
    connected = await client.get("/api/callback", params=callback)
    assert connected.status_code == 200, connected.text
    assert connected.json()["status"] == "active" and connected.json()["backfill"] == "scheduled"
    assert "daily" in connected.json()["scopes"]

    row = await db.fetchrow("SELECT * FROM oauth_tokens WHERE user_id = $1", user_id)
    assert row["status"] == "active"
    # What webhook events name the connection by, stored at connect time.
    assert row["oura_user_id"] == sim.user("demo").user_id
    cipher = TokenCipher.from_keys(settings.token_encryption_keys.get_secret_value())
    access = cipher.decrypt(row["access_token_ciphertext"])
    assert access.encode() not in bytes(row["access_token_ciphertext"])
    grant, _ = sim.authenticate(access)
    assert grant is not None and grant.login == "demo"
    # No cursors: the next collector run backfills this user.
    assert (
        await db.fetchval("SELECT count(*) FROM collection_cursors WHERE user_id = $1", user_id)
        == 0
    )

    status = (await client.get("/api/connection", headers=headers)).json()
    assert status["status"] == "active" and "heartrate" in status["scopes"]
    dashboard = (await client.get("/api/dashboard", headers=headers)).json()
    assert dashboard["sync"]["status"] == "active"

    # The callback cleared the connect cookie; with a copy of it, the state is spent anyway.
    replay = await client.get("/api/callback", params=callback)
    assert replay.status_code == 403 and replay.json()["code"] == "other_browser"
    replay = await client.get(
        "/api/callback", params=callback, headers={"Cookie": f"myhealth_connect={connect_cookie}"}
    )
    assert replay.status_code == 400 and replay.json()["code"] == "state_used"

    refreshed = await client.post("/api/oauth/refresh", headers=headers)
    assert refreshed.status_code == 200, refreshed.text
    row2 = await db.fetchrow("SELECT * FROM oauth_tokens WHERE user_id = $1", user_id)
    new_access = cipher.decrypt(row2["access_token_ciphertext"])
    assert new_access != access and row2["last_refreshed_at"] is not None

    gone = await client.delete("/api/oauth/connection", headers=headers)
    assert gone.status_code == 200 and gone.json() == {"status": "disconnected"}
    assert sim.authenticate(new_access)[0] is None, "revoked at Oura"
    assert (await client.get("/api/connection", headers=headers)).json()["status"] == "none"
    again = await client.delete("/api/oauth/connection", headers=headers)
    assert again.status_code == 404 and again.json()["code"] == "not_connected"
    missing = await client.post("/api/oauth/refresh", headers=headers)
    assert missing.status_code == 404


async def test_delete_me_revokes_the_grant(
    client: httpx.AsyncClient,
    db: asyncpg.Pool,
    simulator: tuple[Simulator, str],
    settings: GatewaySettings,
) -> None:
    sim, _ = simulator
    user_id, headers = await new_user(client)
    callback = await _consent(await _authorize(client, headers), user="demo2")
    assert (await client.get("/api/callback", params=callback)).status_code == 200
    cipher = TokenCipher.from_keys(settings.token_encryption_keys.get_secret_value())
    ciphertext = await db.fetchval(
        "SELECT access_token_ciphertext FROM oauth_tokens WHERE user_id = $1", user_id
    )
    access = cipher.decrypt(ciphertext)
    assert (await client.delete("/api/me", headers=headers)).status_code == 202
    assert sim.authenticate(access)[0] is None
    assert await db.fetchval("SELECT count(*) FROM oauth_tokens") == 0


async def test_denied_consent(client: httpx.AsyncClient, simulator) -> None:
    _, headers = await new_user(client)
    callback = await _consent(await _authorize(client, headers), deny="1")
    denied = await client.get("/api/callback", params=callback)
    assert denied.status_code == 400 and denied.json()["code"] == "oauth_denied"
    # The state was spent by the denial.
    replay = await client.get("/api/callback", params={**callback, "code": "x"})
    assert replay.json()["code"] == "state_used"


async def test_bad_code(client: httpx.AsyncClient, simulator) -> None:
    _, headers = await new_user(client)
    callback = await _consent(await _authorize(client, headers))
    wrong = await client.get("/api/callback", params={**callback, "code": "forged-code"})
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_code"


def _forge(state: str) -> str:
    body, _, mac = state.partition(".")
    return f"{body}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}"


async def test_forged_expired_and_foreign_states(
    client: httpx.AsyncClient, db: asyncpg.Pool, settings: GatewaySettings, simulator
) -> None:
    user_id, headers = await new_user(client)
    callback = await _consent(await _authorize(client, headers))
    secret = settings.jwt_secret.get_secret_value()

    cases: list[tuple[dict[str, Any], str]] = [
        ({"code": callback["code"], "state": _forge(callback["state"])}, "invalid_state"),
        ({"code": callback["code"], "state": "garbage"}, "invalid_state"),
        ({"code": callback["code"], "state": "☃.☃"}, "invalid_state"),
        ({"code": callback["code"]}, "missing_state"),
    ]
    # Signed with another server's secret.
    foreign = sign_state(
        StateClaims(new_nonce(), user_id, datetime.now(UTC) + timedelta(minutes=5)),
        secret="another-secret-" + "x" * 40,
    )
    cases.append(({"code": callback["code"], "state": foreign}, "invalid_state"))
    # Properly signed, but never issued (no row): a guessed nonce.
    unissued = sign_state(
        StateClaims(new_nonce(), user_id, datetime.now(UTC) + timedelta(minutes=5)), secret=secret
    )
    cases.append(({"code": callback["code"], "state": unissued}, "invalid_state"))
    # Issued 11 minutes ago: expired by its signed expiry.
    old = StateClaims(new_nonce(), user_id, datetime.now(UTC) - timedelta(minutes=1))
    await db.execute(
        "INSERT INTO oauth_states (nonce, user_id, created_at, expires_at) "
        "VALUES ($1, $2, now() - interval '11 minutes', $3)",
        old.nonce,
        user_id,
        old.expires_at,
    )
    cases.append(
        ({"code": callback["code"], "state": sign_state(old, secret=secret)}, "state_expired")
    )
    # Signed expiry still ahead but the row expired (e.g. clocks of replicas): rejected too.
    skew = StateClaims(new_nonce(), user_id, datetime.now(UTC) + timedelta(minutes=5))
    await db.execute(
        "INSERT INTO oauth_states (nonce, user_id, expires_at) "
        "VALUES ($1, $2, now() - interval '1 second')",
        skew.nonce,
        user_id,
    )
    cases.append(
        ({"code": callback["code"], "state": sign_state(skew, secret=secret)}, "state_expired")
    )
    # Bound to another user: the nonce exists, but for someone else.
    other_id, _ = await new_user(client)
    stolen = StateClaims(
        callback["state"] and new_nonce(), other_id, datetime.now(UTC) + timedelta(minutes=5)
    )
    nonce_of_victim = await db.fetchval(
        "SELECT nonce FROM oauth_states WHERE user_id = $1", user_id
    )
    rebound = StateClaims(nonce_of_victim, other_id, stolen.expires_at)
    # The browser is signed in as the victim: a state of another account is refused outright.
    cases.append(
        ({"code": callback["code"], "state": sign_state(rebound, secret=secret)}, "other_account")
    )

    for params, code in cases:
        response = await client.get("/api/callback", params=params)
        assert response.status_code == (403 if code == "other_account" else 400), response.text
        assert response.json()["code"] == code, (params, response.json())
    assert await db.fetchval("SELECT count(*) FROM oauth_tokens") == 0
    # The genuine state still works once, then never again.
    cookie = {"Cookie": f"myhealth_connect={web.connect_cookie(client)}"}
    assert (await client.get("/api/callback", params=callback)).status_code == 200
    again = await client.get("/api/callback", params=callback, headers=cookie)
    assert again.json()["code"] == "state_used"


async def test_state_expires_after_ten_minutes(
    client: httpx.AsyncClient, db: asyncpg.Pool, simulator
) -> None:
    user_id, headers = await new_user(client)
    callback = await _consent(await _authorize(client, headers))
    row = await db.fetchrow(
        "SELECT created_at, expires_at FROM oauth_states WHERE user_id = $1", user_id
    )
    assert row["expires_at"] - row["created_at"] == pytest.approx(
        timedelta(minutes=10), abs=timedelta(seconds=2)
    )
    await db.execute("UPDATE oauth_states SET expires_at = now() - interval '1 second'")
    expired = await client.get("/api/callback", params=callback)
    assert expired.status_code == 400 and expired.json()["code"] == "state_expired"


async def test_connect_routes_need_authentication(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/api/oauth/authorize"),
        ("POST", "/api/oauth/refresh"),
        ("GET", "/api/connection"),
        ("DELETE", "/api/oauth/connection"),
    ):
        response = await client.request(method, path)
        assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


async def test_backfill_on_connect_spawns_the_collector(
    db, db_settings, kafka_settings, simulator, monkeypatch
) -> None:
    from gateway.app import create_app
    from gateway.backfill import backfill_command

    command = backfill_command(uuid.UUID(int=1), 90)
    assert command[1:6] == ["-m", "collector", "backfill", "--user", str(uuid.UUID(int=1))]
    since = datetime.now(UTC).date() - timedelta(days=90)
    assert command[-2:] == ["--since", since.isoformat()]
    _, url = simulator
    # The spawned collector inherits the environment: keep it on the simulator and on topics
    # nobody else uses.
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", f"t{uuid.uuid4().hex[:10]}.")
    monkeypatch.setenv("OURA_API_BASE_URL", url)
    settings = make_settings(
        oura_authorize_url=f"{url}/oauth/authorize",
        oura_token_url=f"{url}/oauth/token",
        oura_revoke_url=f"{url}/oauth/revoke",
        backfill_on_connect=True,
    )
    app = create_app(settings, database=db_settings, kafka=kafka_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            _, headers = await new_user(c)
            callback = await _consent(await _authorize(c, headers))
            response = await c.get("/api/callback", params=callback)
            assert response.status_code == 200
            assert response.json()["backfill"] == "started"
            for task in list(app.state.connections.background):
                await task
