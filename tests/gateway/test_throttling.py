"""Throttling that cannot be turned against others, against the gateway served over HTTP behind
a trusted proxy hop (X-Forwarded-For, as the Istio ingress gateway sends it): failures slow the
(account, address) pair, not the account; each address has a login and a registration budget;
bcrypt work is bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg
import httpx

from gateway.app import create_app
from schemas.settings import DatabaseSettings, KafkaSettings
from tests.gateway.conftest import LiveServer, make_settings
from tests.gateway.factories import PASSWORD, random_email

ATTACKER, OWNER = "198.51.100.66", "203.0.113.20"


@contextmanager
def _gateway(
    db_settings: DatabaseSettings, kafka: KafkaSettings, **overrides: Any
) -> Iterator[str]:
    """The gateway behind one trusted proxy (GATEWAY_TRUSTED_PROXY_HOPS=1, as the chart sets)."""
    settings = make_settings(**{"trusted_proxy_hops": 1, **overrides})
    with LiveServer(create_app(settings, database=db_settings, kafka=kafka)) as server:
        yield server.url


@asynccontextmanager
async def _from(url: str, address: str, spoofed: str = "") -> AsyncIterator[httpx.AsyncClient]:
    """A client whose address the proxy appends; anything left of it is the client's own."""
    forwarded = f"{spoofed}, {address}" if spoofed else address
    async with httpx.AsyncClient(
        base_url=url, timeout=30, headers={"X-Forwarded-For": forwarded}
    ) as client:
        yield client


async def _login(client: httpx.AsyncClient, login: str, password: str) -> httpx.Response:
    return await client.post("/api/login", json={"email": login, "password": password})


async def test_failures_slow_the_pair_never_the_account(
    db: asyncpg.Pool, db_settings: DatabaseSettings, kafka_settings: KafkaSettings
) -> None:
    with _gateway(
        db_settings, kafka_settings, login_free_failures=3, login_delay_base_s=120.0
    ) as url:
        async with _from(url, OWNER) as owner, _from(url, ATTACKER) as attacker:
            email = random_email()
            body = {"email": email, "username": "victim", "password": PASSWORD}
            assert (await owner.post("/api/register", json=body)).status_code == 202
            # Email and username of one account count together; four failures, the fourth
            # starts a wait.
            for login in (email, "victim", email.upper(), "VICTIM"):
                assert (await _login(attacker, login, "wrong guess 12345")).status_code == 401
            waiting = await _login(attacker, email, "wrong guess 12345")
            assert waiting.status_code == 429 and waiting.json()["code"] == "too_many_attempts"
            assert int(waiting.headers["Retry-After"]) > 60
            # While it waits the pair cannot test even the right password...
            assert (await _login(attacker, email, PASSWORD)).status_code == 429
            # ...but the owner, elsewhere, is not locked out, however often the attacker tries.
            assert (await _login(owner, email, PASSWORD)).status_code == 200
            assert (await _login(owner, "victim", PASSWORD)).status_code == 200
    waits = await db.fetch("SELECT key FROM auth_throttle WHERE scope = 'pair'")
    assert [r["key"].rsplit("|", 1)[1] for r in waits] == [ATTACKER]


async def test_each_address_has_a_login_and_a_registration_budget(
    db: asyncpg.Pool, db_settings: DatabaseSettings, kafka_settings: KafkaSettings
) -> None:
    with _gateway(
        db_settings, kafka_settings, login_budget_address=4, register_budget_address=2
    ) as url:
        # Entries left of the proxy's are the client's to forge: they change nothing.
        async with _from(url, ATTACKER, "10.0.0.1") as a, _from(url, ATTACKER, "10.9.9.9") as b:
            for client in (a, b, a, b):
                response = await _login(client, random_email(), "spray password 1")
                assert response.status_code == 401
            over = await _login(a, random_email(), "spray password 1")
            assert over.status_code == 429 and int(over.headers["Retry-After"]) > 0
            for client in (a, b):
                body = {"email": random_email(), "password": PASSWORD}
                assert (await client.post("/api/register", json=body)).status_code == 202
            body = {"email": random_email(), "password": PASSWORD}
            assert (await a.post("/api/register", json=body)).status_code == 429
        async with _from(url, OWNER) as other:
            assert (await _login(other, random_email(), "spray password 1")).status_code == 401
            body = {"email": random_email(), "password": PASSWORD}
            assert (await other.post("/api/register", json=body)).status_code == 202


async def test_without_trusted_hops_the_peer_is_the_address(
    db: asyncpg.Pool, db_settings: DatabaseSettings, kafka_settings: KafkaSettings
) -> None:
    """The reviewed failure: behind the sidecar every caller was 127.0.0.6. With hops set, two
    callers through the same proxy are two addresses; without, a forged header is ignored."""
    with _gateway(db_settings, kafka_settings, login_budget_address=2, trusted_proxy_hops=0) as url:
        async with _from(url, ATTACKER) as a, _from(url, OWNER) as b:
            for client in (a, b):
                assert (await _login(client, random_email(), "x" * 10)).status_code == 401
            assert (await _login(a, random_email(), "x" * 10)).status_code == 429


async def test_password_hashing_is_bounded(
    db: asyncpg.Pool, db_settings: DatabaseSettings, kafka_settings: KafkaSettings
) -> None:
    """A burst of registrations gets fast 503s beyond one hashing slot and no queue, instead of
    taking every core."""
    with _gateway(db_settings, kafka_settings, hash_concurrency=1, hash_queue=0) as url:
        async with _from(url, OWNER) as client:
            bodies = [{"email": random_email(), "password": PASSWORD} for _ in range(6)]
            answers = await asyncio.gather(
                *(client.post("/api/register", json=body) for body in bodies)
            )
    statuses = sorted(r.status_code for r in answers)
    assert 202 in statuses and 503 in statuses, statuses
    busy = next(r for r in answers if r.status_code == 503)
    assert busy.json()["code"] == "busy" and busy.headers["Retry-After"] == "1"
