"""Disconnecting revokes both Oura tokens, and a revocation Oura did not confirm is not
forgotten: the connection stays `revoke_pending` (tokens kept, encrypted) until the collector's
next run revokes it. Against the simulator over real HTTP, recording what reaches its
revocation endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from uuid import UUID

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request, Response

from gateway.settings import GatewaySettings
from oura_connection import OuraOAuthClient, TokenCipher, retry_revocations
from oura_simulator.app import create_app as create_simulator_app
from oura_simulator.config import SimulatorConfig
from oura_simulator.state import Simulator
from tests.gateway.conftest import LiveServer, make_settings
from tests.gateway.factories import new_user
from tests.gateway.test_oauth import _authorize, _consent

CALLBACK = "http://testserver/api/callback"


class Oura:
    def __init__(self, sim: Simulator, url: str, revoked: list[str]) -> None:
        self.sim, self.url, self.revoked = sim, url, revoked

    def fail_next_oauth_calls(self, count: int) -> None:
        httpx.post(
            f"{self.url}/_sim/faults",
            json={"server_error_burst": {"count": count, "scope": "oauth"}},
        ).raise_for_status()


@pytest.fixture
def oura() -> Iterator[Oura]:
    sim = Simulator(SimulatorConfig(users=1, redirect_uris=(CALLBACK,)))
    app: FastAPI = create_simulator_app(simulator=sim)
    revoked: list[str] = []

    @app.middleware("http")
    async def record(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path == "/oauth/revoke":
            revoked.append(request.query_params.get("access_token", ""))
        return await call_next(request)

    with LiveServer(app) as server:
        yield Oura(sim, server.url, revoked)


@pytest.fixture
def settings(oura: Oura) -> GatewaySettings:
    return make_settings(
        oura_authorize_url=f"{oura.url}/oauth/authorize",
        oura_token_url=f"{oura.url}/oauth/token",
        oura_revoke_url=f"{oura.url}/oauth/revoke",
    )


async def _connect(client: httpx.AsyncClient) -> tuple[UUID, dict[str, str]]:
    user_id, headers = await new_user(client)
    callback = await _consent(await _authorize(client, headers))
    assert (await client.get("/api/callback", params=callback)).status_code == 200
    return user_id, headers


async def _tokens(db: asyncpg.Pool, settings: GatewaySettings, user_id: UUID) -> tuple[str, str]:
    cipher = TokenCipher.from_keys(settings.token_encryption_keys.get_secret_value())
    row = await db.fetchrow("SELECT * FROM oauth_tokens WHERE user_id = $1", user_id)
    return (
        cipher.decrypt(row["access_token_ciphertext"]),
        cipher.decrypt(row["refresh_token_ciphertext"]),
    )


async def test_disconnect_revokes_both_tokens(
    client: httpx.AsyncClient, db: asyncpg.Pool, oura: Oura, settings: GatewaySettings
) -> None:
    user_id, headers = await _connect(client)
    access, refresh = await _tokens(db, settings, user_id)
    gone = await client.delete("/api/oauth/connection", headers=headers)
    assert gone.json() == {"status": "disconnected"}
    assert oura.revoked == [refresh, access]
    assert oura.sim.authenticate(access)[0] is None


async def test_unconfirmed_revocation_stays_pending_until_the_collector_revokes_it(
    client: httpx.AsyncClient, db: asyncpg.Pool, oura: Oura, settings: GatewaySettings
) -> None:
    user_id, headers = await _connect(client)
    access, _ = await _tokens(db, settings, user_id)
    oura.fail_next_oauth_calls(1)
    pending = await client.delete("/api/oauth/connection", headers=headers)
    assert pending.status_code == 200 and pending.json() == {"status": "revoke_pending"}
    status = (await client.get("/api/connection", headers=headers)).json()
    assert status["status"] == "revoke_pending"
    assert oura.sim.authenticate(access)[0] is not None, "the grant is still alive at Oura"
    # Not collected any more: the run only takes active connections.
    assert not await db.fetchval("SELECT count(*) FROM oauth_tokens WHERE status = 'active'")

    oauth = OuraOAuthClient(settings)
    try:
        cipher = TokenCipher.from_keys(settings.token_encryption_keys.get_secret_value())
        assert await retry_revocations(db, oauth, cipher) == (1, 0)
        assert await retry_revocations(db, oauth, cipher) == (0, 0)
    finally:
        await oauth.aclose()
    assert oura.sim.authenticate(access)[0] is None
    assert not await db.fetchval("SELECT count(*) FROM oauth_tokens WHERE user_id = $1", user_id)


async def test_a_404_from_the_revocation_endpoint_is_not_a_revocation(
    db: asyncpg.Pool, db_settings, kafka_settings, oura: Oura
) -> None:
    from gateway.app import create_app

    wrong = make_settings(
        oura_authorize_url=f"{oura.url}/oauth/authorize",
        oura_token_url=f"{oura.url}/oauth/token",
        oura_revoke_url=f"{oura.url}/oauth/no-such-endpoint",
    )
    app = create_app(wrong, database=db_settings, kafka=kafka_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            user_id, headers = await _connect(c)
            answer = await c.delete("/api/oauth/connection", headers=headers)
    assert answer.json() == {"status": "revoke_pending"}
    row = await db.fetchrow("SELECT status FROM oauth_tokens WHERE user_id = $1", user_id)
    assert row["status"] == "revoke_pending"


async def test_erasure_waits_until_oura_confirms_the_revocation(
    client: httpx.AsyncClient, db: asyncpg.Pool, oura: Oura
) -> None:
    user_id, headers = await _connect(client)
    oura.fail_next_oauth_calls(1)
    refused = await client.delete("/api/me", headers=headers)
    assert refused.status_code == 503 and refused.json()["code"] == "oura_revoke_pending"
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = $1", user_id) == 1
    erased = await client.delete("/api/me", headers=headers)
    assert erased.status_code == 202 and erased.json()["status"] == "in_progress"
