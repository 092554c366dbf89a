"""The one pool factory and the query labels of schemas.db, on the real database."""

from __future__ import annotations

from schemas.db import labelled, open_pool
from schemas.settings import DatabaseSettings


async def test_pool_is_sized_by_db_pool_min_and_max(db_settings: DatabaseSettings) -> None:
    pool = await open_pool(db_settings.model_copy(update={"pool_min": 3, "pool_max": 5}))
    try:
        assert (pool.get_size(), pool.get_max_size()) == (3, 5)
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()


async def test_a_service_sizes_its_own_pool_and_min_never_exceeds_max(
    db_settings: DatabaseSettings,
) -> None:
    pool = await open_pool(db_settings.model_copy(update={"pool_min": 4}), max_size=2)
    try:
        assert (pool.get_size(), pool.get_max_size()) == (2, 2)
    finally:
        await pool.close()
    lazy = await open_pool(db_settings, min_size=0)
    try:
        assert lazy.get_size() == 0
    finally:
        await lazy.close()


async def test_labelling_a_plain_asyncpg_handle_leaves_it_as_it_is(
    db_settings: DatabaseSettings,
) -> None:
    pool = await open_pool(db_settings, min_size=0, max_size=1)
    try:
        assert labelled(pool, "anything") is pool
        async with pool.acquire() as conn:
            assert labelled(conn, "anything") is conn
    finally:
        await pool.close()
