"""The Oura request budget shared by every collector process, on the real database: what one
process takes, another cannot; a 429 seen by one pauses all; chunks keep the database out of
most requests; without the database a process keeps to its own window."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from collector.oura import RateLimiter, SharedBudget
from schemas.settings import DatabaseSettings

WINDOW_S = 3600.0  # slow refill: nothing comes back during a test


@pytest.fixture
async def other_pool(
    db: asyncpg.Pool, db_settings: DatabaseSettings
) -> AsyncIterator[asyncpg.Pool]:
    """A second pool on the same database: another process's view."""
    pool = await asyncpg.create_pool(**db_settings.asyncpg_kwargs(), min_size=1, max_size=2)
    assert pool is not None
    yield pool
    await pool.close()


def budget(pool: asyncpg.Pool, max_requests: int = 20, chunk: int = 10) -> SharedBudget:
    return SharedBudget(pool, "client-a", max_requests, WINDOW_S, chunk=chunk)


async def test_what_one_process_takes_another_cannot(
    db: asyncpg.Pool, other_pool: asyncpg.Pool
) -> None:
    first, second = budget(db), budget(other_pool)
    assert first.capacity == 10 and first.rate == pytest.approx(10 / WINDOW_S)
    assert await first.take(6) == (6, 0.0)
    granted, _ = await second.take(10)
    assert granted == 4, "the rest of the burst, never more"
    granted, wait = await second.take(10)
    assert granted == 0 and wait > 0
    # Another application (client id) has a budget of its own.
    assert (await SharedBudget(other_pool, "client-b", 100, WINDOW_S).take(3))[0] == 3


async def test_a_429_in_one_process_pauses_every_process(
    db: asyncpg.Pool, other_pool: asyncpg.Pool
) -> None:
    first, second = budget(db, max_requests=1000), budget(other_pool, max_requests=1000)
    assert (await first.take(1))[0] == 1
    await first.take(1, pause_s=30)
    granted, wait = await second.take(1)
    assert granted == 0 and wait >= 30


async def test_limiters_take_chunks_and_count_every_request(
    db: asyncpg.Pool, other_pool: asyncpg.Pool
) -> None:
    first = RateLimiter(1000, WINDOW_S, budget(db, max_requests=1000, chunk=4))
    second = RateLimiter(1000, WINDOW_S, budget(other_pool, max_requests=1000, chunk=4))
    for _ in range(5):
        await first.acquire()
    for _ in range(3):
        await second.acquire()
    assert (first.total_requests, second.total_requests) == (5, 3)
    # Three round trips for eight requests: two chunks of 4 to the first, one to the second.
    tokens = await db.fetchval("SELECT tokens FROM oura_rate_budget WHERE name = 'client-a'")
    assert 500 - 12 <= tokens < 500 - 11


async def test_without_the_database_a_process_keeps_its_own_window(
    db_settings: DatabaseSettings,
) -> None:
    pool = await asyncpg.create_pool(**db_settings.asyncpg_kwargs(), min_size=0, max_size=1)
    assert pool is not None
    await pool.close()  # a pool that cannot answer
    limiter = RateLimiter(2, WINDOW_S, budget(pool))
    await limiter.acquire()
    await limiter.acquire()
    assert limiter.total_requests == 2
    assert limiter._from_window() > 0, "the own window is full after its two requests"
