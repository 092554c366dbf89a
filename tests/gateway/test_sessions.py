"""Sessions that can be revoked, against the gateway served over HTTP on the real database:
short access tokens, single-use refresh tokens stored hashed (a reused one ends its family),
logout and password change ending every session, on every replica (NOTIFY drops the cached
token version)."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import asyncpg
import httpx

from gateway.app import create_app
from schemas.settings import DatabaseSettings, KafkaSettings
from tests.gateway.conftest import LiveServer
from tests.gateway.factories import PASSWORD, random_email

NEW_PASSWORD = "lantern orchard quietly 4412"


async def _login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/api/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def _account(client: httpx.AsyncClient) -> str:
    email = random_email()
    assert (
        await client.post("/api/register", json={"email": email, "password": PASSWORD})
    ).status_code == 202
    return email


async def test_refresh_tokens_rotate_and_a_reused_one_ends_its_family(
    live_server: Any, db: asyncpg.Pool
) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        email = await _account(client)
        first = await _login(client, email)
        assert first["expires_in"] == 900 and first["refresh_token"]
        renewed = await client.post(
            "/api/token/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert renewed.status_code == 200, renewed.text
        second = renewed.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert (await client.get("/api/me", headers=_bearer(second))).status_code == 200
        # Only hashes are stored.
        stored = {
            bytes(r["token_hash"]) for r in await db.fetch("SELECT token_hash FROM refresh_tokens")
        }
        for token in (first["refresh_token"], second["refresh_token"]):
            assert hashlib.sha256(token.encode()).digest() in stored
            assert not await db.fetchval(
                "SELECT count(*) FROM refresh_tokens WHERE token_hash = $1", token.encode()
            )
        # A spent token presented again: refused, and its whole family with it.
        reused = await client.post(
            "/api/token/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert reused.status_code == 401 and reused.json()["code"] == "invalid_refresh_token"
        after = await client.post(
            "/api/token/refresh", json={"refresh_token": second["refresh_token"]}
        )
        assert after.status_code == 401
        # Another login (another family) is untouched.
        other = await _login(client, email)
        again = await client.post(
            "/api/token/refresh", json={"refresh_token": other["refresh_token"]}
        )
        assert again.status_code == 200


async def test_logout_ends_every_session_on_every_replica(
    live_server: Any,
    db: asyncpg.Pool,
    db_settings: DatabaseSettings,
    kafka_settings: KafkaSettings,
    settings: Any,
) -> None:
    replica = create_app(settings, database=db_settings, kafka=kafka_settings)
    with LiveServer(replica) as other:
        async with (
            httpx.AsyncClient(base_url=live_server.url, timeout=30) as a,
            httpx.AsyncClient(base_url=other.url, timeout=30) as b,
        ):
            email = await _account(a)
            laptop, phone = await _login(a, email), await _login(b, email)
            # Both replicas have the account's token version cached now.
            for client, tokens in ((a, laptop), (b, phone), (b, laptop)):
                assert (await client.get("/api/me", headers=_bearer(tokens))).status_code == 200
            out = await a.post("/api/logout", headers=_bearer(laptop))
            assert out.status_code == 200 and out.json() == {"status": "signed_out"}
            for client in (a, b):
                for tokens in (laptop, phone):
                    for _ in range(100):  # the other replica hears the NOTIFY shortly
                        answer = await client.get("/api/me", headers=_bearer(tokens))
                        if answer.status_code == 401:
                            break
                        await asyncio.sleep(0.05)
                    assert answer.status_code == 401 and answer.json()["code"] == "token_revoked"
                    refreshed = await client.post(
                        "/api/token/refresh", json={"refresh_token": tokens["refresh_token"]}
                    )
                    assert refreshed.status_code == 401
            fresh = await _login(b, email)
            assert (await a.get("/api/me", headers=_bearer(fresh))).status_code == 200


async def test_password_change_ends_every_session(live_server: Any, db: asyncpg.Pool) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        email = await _account(client)
        tokens = await _login(client, email)
        headers = _bearer(tokens)
        wrong = await client.post(
            "/api/password",
            json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
            headers=headers,
        )
        assert wrong.status_code == 401
        weak = await client.post(
            "/api/password",
            json={"current_password": PASSWORD, "new_password": "password12"},
            headers=headers,
        )
        assert weak.status_code == 422 and weak.json()["code"] == "weak_password"
        changed = await client.post(
            "/api/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=headers,
        )
        assert changed.status_code == 200, changed.text
        assert (await client.get("/api/me", headers=headers)).status_code == 401
        stale = await client.post(
            "/api/token/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert stale.status_code == 401
        old = await client.post("/api/login", json={"email": email, "password": PASSWORD})
        assert old.status_code == 401
        new = await _login(client, email, NEW_PASSWORD)
        assert (await client.get("/api/me", headers=_bearer(new))).status_code == 200
