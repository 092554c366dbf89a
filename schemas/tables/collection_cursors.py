"""The `collection_cursors` table: how far each (user, data type) got and which days are covered.
The collector writes it (`record_success`, `record_failure`) and plans its windows from it
(`load_cursors`, `uncovered`); the gateway's connection page reads it (`type_progress`); the Oura
connection retries refused types on reconnect and reports each type's health
(`retry_not_granted`, `cursor_statuses`); the gateway's sync status metrics count them
(`summary_by_type`, `count_by_status`).

A cursor and its `covered` multirange move only after the broker acknowledged every record of
the window; a failure records its reason and leaves both where they were."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from schemas.db import Queries, labelled

_SUCCESS = """
INSERT INTO collection_cursors AS c (user_id, data_type, cursor_day, covered, status,
                                     last_success_at, last_attempt_at, last_error, documents_total)
VALUES ($1, $2, $4, datemultirange(daterange($3, $4, '[]')), 'ok', now(), now(), NULL, $5)
ON CONFLICT (user_id, data_type) DO UPDATE SET
    cursor_day = GREATEST(c.cursor_day, EXCLUDED.cursor_day),
    covered = c.covered + EXCLUDED.covered,
    status = 'ok',
    last_success_at = now(),
    last_attempt_at = now(),
    last_error = NULL,
    documents_total = c.documents_total + EXCLUDED.documents_total
"""

_FAILURE = """
INSERT INTO collection_cursors AS c (user_id, data_type, status, last_attempt_at, last_error)
VALUES ($1, $2, $3, now(), $4)
ON CONFLICT (user_id, data_type) DO UPDATE SET
    status = EXCLUDED.status, last_attempt_at = now(), last_error = EXCLUDED.last_error
"""

_GAPS = """
SELECT t.data_type, lower(r) AS first_day, upper(r) - 1 AS last_day
FROM unnest($4::text[]) AS t (data_type)
LEFT JOIN collection_cursors c ON c.user_id = $3 AND c.data_type = t.data_type
CROSS JOIN LATERAL unnest(
    datemultirange(daterange($1::date, $2::date, '[]')) - COALESCE(c.covered, '{}')
) AS r
ORDER BY t.data_type, first_day
"""


@dataclass(frozen=True, slots=True)
class Cursor:
    data_type: str
    cursor_day: date | None
    status: str


async def load_cursors(pool: Queries, user_id: UUID) -> dict[str, Cursor]:
    rows = await pool.fetch(
        "SELECT data_type, cursor_day, status FROM collection_cursors WHERE user_id = $1", user_id
    )
    return {r["data_type"]: Cursor(r["data_type"], r["cursor_day"], r["status"]) for r in rows}


async def record_success(
    pool: Queries, user_id: UUID, data_type: str, first_day: date, last_day: date, documents: int
) -> None:
    await pool.execute(_SUCCESS, user_id, data_type, first_day, last_day, documents)


async def record_failure(
    pool: Queries, user_id: UUID, data_type: str, error: str, *, not_granted: bool = False
) -> None:
    status = "not_granted" if not_granted else "failed"
    await pool.execute(_FAILURE, user_id, data_type, status, error[:1000])


async def uncovered(
    pool: Queries, user_id: UUID, data_types: list[str], first_day: date, last_day: date
) -> dict[str, list[tuple[date, date]]]:
    """Per data type, the inclusive day ranges of [first_day, last_day] not yet covered."""
    rows = await pool.fetch(_GAPS, first_day, last_day, user_id, data_types)
    gaps: dict[str, list[tuple[date, date]]] = {t: [] for t in data_types}
    for row in rows:
        gaps[row["data_type"]].append((row["first_day"], row["last_day"]))
    return gaps


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


async def retry_not_granted(conn: Queries, user_id: UUID) -> None:
    """After the user connected again: a reconnection may grant scopes that were missing, so
    the types refused for want of one are tried again (inside the caller's transaction)."""
    await conn.execute(
        "UPDATE collection_cursors SET status = 'ok' WHERE user_id = $1 AND status = 'not_granted'",
        user_id,
    )


@dataclass(frozen=True, slots=True)
class CursorStatus:
    status: str
    cursor_day: date | None
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    documents_total: int


async def cursor_statuses(conn: Queries, user_id: UUID) -> dict[str, CursorStatus]:
    """The user's collection health per data type, for the connection status."""
    rows = await labelled(conn, "cursor_statuses").fetch(
        "SELECT data_type, status, cursor_day, last_success_at, last_attempt_at, last_error, "
        "documents_total FROM collection_cursors WHERE user_id = $1 ORDER BY data_type",
        user_id,
    )
    return {
        r["data_type"]: CursorStatus(
            status=r["status"],
            cursor_day=r["cursor_day"],
            last_success_at=r["last_success_at"],
            last_attempt_at=r["last_attempt_at"],
            last_error=r["last_error"],
            documents_total=r["documents_total"],
        )
        for r in rows
    }


@dataclass(frozen=True, slots=True)
class TypeSummary:
    oldest_success: float
    """Unix time of the least recent last successful collection."""
    stale: int
    """Cursors whose last success is older than the staleness limit."""


async def summary_by_type(conn: Queries, *, stale_after_s: float) -> dict[str, TypeSummary]:
    """Per data type with a success so far: no user named, for the sync status metrics."""
    rows = await conn.fetch(
        "SELECT data_type, extract(epoch from min(last_success_at))::float8 AS oldest, "
        "count(*) FILTER (WHERE last_success_at < now() - make_interval(secs => $1)) AS stale "
        "FROM collection_cursors WHERE last_success_at IS NOT NULL GROUP BY data_type",
        stale_after_s,
    )
    return {r["data_type"]: TypeSummary(r["oldest"], r["stale"]) for r in rows}


async def count_by_status(conn: Queries) -> dict[str, int]:
    """Cursors (user x data type) per status: ok | failed | not_granted."""
    rows = await conn.fetch("SELECT status, count(*) AS n FROM collection_cursors GROUP BY status")
    return {r["status"]: r["n"] for r in rows}
