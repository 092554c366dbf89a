"""The `daily_trends` table (written by the stream processor)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from schemas.db import Connection, Queries, labelled
from schemas.tables.trends import FIELDS, KEY

# What a trend point says: everything but its user and the time it was computed.
_COLUMNS = ", ".join(c.name for c in (*KEY[1:], *FIELDS))


async def list_trends(
    conn: Queries, *, user_id: UUID, metrics: list[str] | None, start: date, end: date, limit: int
) -> list[dict[str, Any]]:
    conn = labelled(conn, "list_trends")
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM daily_trends WHERE user_id = $1 AND day >= $2 AND day <= $3 "
        f"AND ($4::text[] IS NULL OR metric = ANY($4)) ORDER BY metric, day LIMIT $5",
        user_id,
        start,
        end,
        metrics,
        limit,
    )
    return [dict(r) for r in rows]


async def export_trends(
    conn: Connection, *, user_id: UUID, start: date | None, end: date | None
) -> Any:
    """Server-side cursor over a user's trends; `conn` must be inside a transaction."""
    conn = labelled(conn, "export_trends")
    return conn.cursor(
        f"SELECT {_COLUMNS} FROM daily_trends WHERE user_id = $1 "
        f"AND ($2::date IS NULL OR day >= $2) AND ($3::date IS NULL OR day <= $3) "
        f"ORDER BY metric, day",
        user_id,
        start,
        end,
        prefetch=500,
    )
