"""Per data type collection health for the connection page: the cursor's last sync and failure,
and how much of the backfill window its `covered` multirange holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from schemas.db import Queries, labelled


@dataclass(frozen=True, slots=True)
class TypeProgress:
    data_type: str
    status: str
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    documents_total: int
    covered_days: int


async def type_progress(
    conn: Queries, *, user_id: UUID, first: date, last: date
) -> list[TypeProgress]:
    """One row per data type the collector has a cursor for; `covered_days` counts the days of
    [first, last] already collected."""
    conn = labelled(conn, "type_progress")
    rows = await conn.fetch(
        "SELECT data_type, status, last_success_at, last_attempt_at, last_error, "
        "documents_total, coalesce((SELECT sum(upper(r) - lower(r)) FROM "
        "unnest(covered * datemultirange(daterange($2::date, $3::date, '[]'))) r), 0) "
        "AS covered_days FROM collection_cursors WHERE user_id = $1 ORDER BY data_type",
        user_id,
        first,
        last,
    )
    return [
        TypeProgress(
            data_type=r["data_type"],
            status=r["status"],
            last_success_at=r["last_success_at"],
            last_attempt_at=r["last_attempt_at"],
            last_error=r["last_error"],
            documents_total=int(r["documents_total"]),
            covered_days=int(r["covered_days"]),
        )
        for r in rows
    ]
