"""The `oauth_states` table: single-use, expiring OAuth `state` nonces bound to a user."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class StateProblem(StrEnum):
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


async def create_state(conn: Any, *, nonce: str, user_id: UUID, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO oauth_states (nonce, user_id, expires_at) VALUES ($1, $2, $3)",
        nonce,
        user_id,
        expires_at,
    )


async def consume_state(conn: Any, *, nonce: str, user_id: UUID) -> StateProblem | None:
    """Mark the state used, once. None on success, else why it cannot be used."""
    consumed = await conn.fetchval(
        "UPDATE oauth_states SET used_at = now() WHERE nonce = $1 AND user_id = $2 "
        "AND used_at IS NULL AND expires_at > now() RETURNING nonce",
        nonce,
        user_id,
    )
    if consumed is not None:
        return None
    row = await conn.fetchrow(
        "SELECT used_at, expires_at <= now() AS expired FROM oauth_states "
        "WHERE nonce = $1 AND user_id = $2",
        nonce,
        user_id,
    )
    if row is None:
        return StateProblem.UNKNOWN
    return StateProblem.USED if row["used_at"] is not None else StateProblem.EXPIRED


async def delete_expired(conn: Any) -> int:
    status = await conn.execute(
        "DELETE FROM oauth_states WHERE expires_at < now() - interval '1 day'"
    )
    return int(status.split()[-1])
