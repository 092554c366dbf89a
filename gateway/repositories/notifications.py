"""PostgreSQL NOTIFY on the channel every gateway replica listens to, so per-process caches
drop a user's entries the moment their account, connection or data changes anywhere.

Payload: a user id, or `*` for everyone. Other services send it too (the stream processor after
committing a batch)."""

from __future__ import annotations

from uuid import UUID

from schemas.db import Queries, labelled
from schemas.tables.channels import USER_CHANGED_CHANNEL


async def notify_user_changed(conn: Queries, user_id: UUID | None) -> None:
    conn = labelled(conn, "notify_user_changed")
    await conn.execute(
        "SELECT pg_notify($1, $2)", USER_CHANGED_CHANNEL, "*" if user_id is None else str(user_id)
    )
