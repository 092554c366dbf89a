"""One process of the refresh race: waits for the shared start time, then asks for the user's
access token (which is about to expire) and prints it."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from uuid import UUID

import asyncpg

from oura_connection import OuraOAuthClient, TokenCipher, get_access_token
from oura_connection.settings import OuraOAuthSettings
from schemas.settings import DatabaseSettings


async def race(user_id: UUID, start_at: float) -> str:
    settings = OuraOAuthSettings()
    cipher = TokenCipher.from_keys(os.environ["TOKEN_ENCRYPTION_KEYS"])
    pool = await asyncpg.create_pool(**DatabaseSettings().asyncpg_kwargs(), min_size=1, max_size=2)
    try:
        async with OuraOAuthClient(settings) as oauth:
            await asyncio.sleep(max(0.0, start_at - time.time()))
            return await get_access_token(pool, user_id, oauth, cipher)
    finally:
        await pool.close()


if __name__ == "__main__":
    sys.stdout.write(asyncio.run(race(UUID(sys.argv[1]), float(sys.argv[2]))) + "\n")
