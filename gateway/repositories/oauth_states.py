"""The `oauth_states` table: single-use, expiring OAuth `state` nonces bound to a user and to the
browser that started the flow (the SHA-256 of a nonce held in that browser's cookie)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from schemas.db import Queries, labelled


class StateProblem(StrEnum):
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    OTHER_BROWSER = "other_browser"


async def create_state(
    conn: Queries, *, nonce: str, user_id: UUID, expires_at: datetime, browser_hash: bytes
) -> None:
    conn = labelled(conn, "create_state")
    await conn.execute(
        "INSERT INTO oauth_states (nonce, user_id, expires_at, browser_hash) "
        "VALUES ($1, $2, $3, $4)",
        nonce,
        user_id,
        expires_at,
        browser_hash,
    )


async def consume_state(
    conn: Queries, *, nonce: str, user_id: UUID, browser_hash: bytes
) -> StateProblem | None:
    """Mark the state used, once, when the browser that started it presents it. None on
    success, else why it cannot be used. Another browser does not use the state up."""
    conn = labelled(conn, "consume_state")
    consumed = await conn.fetchval(
        "UPDATE oauth_states SET used_at = now() WHERE nonce = $1 AND user_id = $2 "
        "AND browser_hash = $3 AND used_at IS NULL AND expires_at > now() RETURNING nonce",
        nonce,
        user_id,
        browser_hash,
    )
    if consumed is not None:
        return None
    row = await conn.fetchrow(
        "SELECT used_at, expires_at <= now() AS expired, browser_hash IS NOT DISTINCT FROM $3 "
        "AS same_browser FROM oauth_states WHERE nonce = $1 AND user_id = $2",
        nonce,
        user_id,
        browser_hash,
    )
    if row is None:
        return StateProblem.UNKNOWN
    if row["used_at"] is not None:
        return StateProblem.USED
    if row["expired"]:
        return StateProblem.EXPIRED
    return StateProblem.OTHER_BROWSER


async def delete_expired(conn: Queries) -> int:
    conn = labelled(conn, "delete_expired")
    status = await conn.execute(
        "DELETE FROM oauth_states WHERE expires_at < now() - interval '1 day'"
    )
    return int(status.split()[-1])
