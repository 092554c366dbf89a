"""Exports cannot starve the API (the reviewed failure: ten unread exports held every pooled
connection and /api/sleep timed out). Against the gateway served over HTTP on the real database:
exports that nobody reads keep only the export pool busy, one export per user, a full export
pool answers 503 at once, and PostgreSQL ends the snapshot of an export whose reader stalled."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg
import httpx

from gateway.app import create_app
from schemas.settings import DatabaseSettings, KafkaSettings
from tests.gateway.conftest import LiveServer, make_settings
from tests.gateway.factories import new_user

# Far more than the socket buffers between server and client hold, so an unread export stays
# in the middle of its stream, holding its connection and its transaction.
PAD_ROWS, PAD_CHARS = 150, 96_000


async def _big_export_data(db: asyncpg.Pool, user_id: uuid.UUID) -> None:
    await db.execute(
        "INSERT INTO daily_sleep (user_id, id, day, document, content_hash, fetched_at) "
        "SELECT $1, 'pad-' || g, date '2001-01-01' + g, "
        "jsonb_build_object('pad', repeat(md5(g::text), $2 / 32)), "
        "decode(md5(g::text), 'hex'), now() FROM generate_series(1, $3) g",
        user_id,
        PAD_CHARS,
        PAD_ROWS,
    )


@contextmanager
def _gateway(
    db_settings: DatabaseSettings, kafka: KafkaSettings, **overrides: Any
) -> Iterator[str]:
    settings = make_settings(**overrides)
    with LiveServer(create_app(settings, database=db_settings, kafka=kafka)) as server:
        yield server.url


@asynccontextmanager
async def _unread_export(url: str, headers: dict[str, str]) -> AsyncIterator[httpx.Response]:
    """An export whose headers arrived and whose body nobody reads."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        request = client.build_request("GET", "/api/export", headers=headers)
        response = await client.send(request, stream=True)
        try:
            yield response
        finally:
            await response.aclose()


async def _users(client: httpx.AsyncClient, db: asyncpg.Pool, count: int) -> list[dict[str, str]]:
    headers = []
    for _ in range(count):
        user_id, user_headers = await new_user(client)
        await _big_export_data(db, user_id)
        headers.append(user_headers)
    return headers


async def test_unread_exports_leave_queries_their_pool(
    db: asyncpg.Pool, db_settings: DatabaseSettings, kafka_settings: KafkaSettings
) -> None:
    with _gateway(
        db_settings, kafka_settings, db_pool_max=2, export_pool_max=2, export_acquire_timeout_s=0.2
    ) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            first, second, third = await _users(client, db, 3)
            async with _unread_export(url, first) as a, _unread_export(url, second) as b:
                assert a.status_code == b.status_code == 200
                # The export pool is full: a third export is told so at once...
                full = await client.get("/api/export", headers=third)
                assert full.status_code == 503 and full.json()["code"] == "exports_busy"
                assert full.headers["Retry-After"]
                # ...and a second export of the same user waits for the first one.
                # (Its slot would be free if the first had finished: it has not.)
                # Queries still have every connection of their own pool.
                for _ in range(10):
                    sleep = await client.get("/api/sleep", headers=third)
                    assert sleep.status_code == 200, sleep.text
                    assert (await client.get("/api/me", headers=first)).status_code == 200


async def test_one_export_at_a_time_per_user(
    db: asyncpg.Pool, db_settings: DatabaseSettings, kafka_settings: KafkaSettings
) -> None:
    with _gateway(db_settings, kafka_settings, export_pool_max=3) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            (headers,) = await _users(client, db, 1)
            async with _unread_export(url, headers) as running:
                assert running.status_code == 200
                again = await client.get("/api/export", headers=headers)
                assert again.status_code == 429, again.text
                assert again.json()["code"] == "export_in_progress"
            # Once the first export is gone, the next one runs to its end.
            for _ in range(100):
                done = await client.get(
                    "/api/export", params={"types": "daily_sleep"}, headers=headers
                )
                if done.status_code != 429:
                    break
                await asyncio.sleep(0.05)
            assert done.status_code == 200 and done.json()["data"]["daily_sleep"]


async def test_a_stalled_export_loses_its_snapshot(
    db: asyncpg.Pool, db_settings: DatabaseSettings, kafka_settings: KafkaSettings
) -> None:
    """idle_in_transaction_session_timeout ends the session of an export nobody reads: its
    transaction and its per-user lock go with it, and the user can export again."""
    with _gateway(db_settings, kafka_settings, export_pool_max=2, export_idle_timeout_s=0.5) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            (headers,) = await _users(client, db, 1)
            async with _unread_export(url, headers) as stalled:
                assert stalled.status_code == 200
                for _ in range(400):
                    retry = await client.get(
                        "/api/export", params={"types": "personal_info"}, headers=headers
                    )
                    if retry.status_code != 429:
                        break
                    await asyncio.sleep(0.05)
                assert retry.status_code == 200, retry.text
                idle = await db.fetchval(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND state = 'idle in transaction'"
                )
                assert idle == 0
