"""The processor's database pool, for the workers (stream_processor.persist) and the replay."""

from __future__ import annotations

import asyncpg

from schemas import db as database
from schemas.settings import DatabaseSettings


async def open_pool(db: DatabaseSettings) -> asyncpg.Pool:
    """A pool that connects lazily (DB_POOL_MIN does not apply): a database that is down at
    start is retried per batch. Half of DB_POOL_MAX, at least 2: at most two batch
    transactions overlap (stream_processor.writer), and the other half is left to the
    collector and the gateway."""
    return await database.open_pool(
        db, min_size=0, max_size=max(2, db.pool_max // 2), command_timeout=120
    )
