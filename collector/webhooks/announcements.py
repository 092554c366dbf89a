"""Which documents webhooks announced, so that a scheduled run can count what it found that no
webhook announced (`collector_documents_unannounced_total`): the health signal of webhook
delivery. One row per (user, data type, Oura document id) in `webhook_documents`; rows go with
their user and are pruned once neither a webhook nor a poll has seen them for a while.

A document counts as unannounced when a scheduled run sees it for the first time, no webhook
announced it before, and the user's webhooks deliver at all (some document of theirs was
announced): a user without webhooks, or a first run's history, is not a webhook failure. A poll
that runs between a sync and its webhook (about 30 s) counts that document too."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from schemas.db import Queries

KEEP_DAYS = 30
"""Longer than any scheduled run's overlap window, so a re-polled document is never new."""

_ANNOUNCED = """
INSERT INTO webhook_documents (user_id, data_type, object_id, announced_at)
SELECT u, t, o, now() FROM unnest($1::uuid[], $2::text[], $3::text[]) AS a(u, t, o)
ON CONFLICT (user_id, data_type, object_id) DO UPDATE SET announced_at = now()
"""

_POLLED = """
WITH found AS (
    INSERT INTO webhook_documents (user_id, data_type, object_id, polled_at)
    SELECT $1, $2, o, now() FROM unnest($3::text[]) AS f(o)
    ON CONFLICT (user_id, data_type, object_id) DO UPDATE SET polled_at = now()
    RETURNING announced_at, xmax = 0 AS first_seen
)
SELECT count(*) FILTER (WHERE first_seen AND announced_at IS NULL) AS unannounced,
       EXISTS (SELECT 1 FROM webhook_documents
               WHERE user_id = $1 AND announced_at IS NOT NULL) AS delivering
FROM found
"""


async def record_announced(pool: Queries, documents: Iterable[tuple[UUID, str, str]]) -> None:
    """Remember (user, data type, object id) announced by webhooks."""
    rows = list(documents)
    if rows:
        await pool.execute(
            _ANNOUNCED, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
        )


async def record_polled(pool: Queries, user_id: UUID, data_type: str, object_ids: list[str]) -> int:
    """Remember what a scheduled run found; returns how many of them count as unannounced."""
    if not object_ids:
        return 0
    row = await pool.fetchrow(_POLLED, user_id, data_type, object_ids)
    assert row is not None, "an aggregate has its row"
    return int(row["unannounced"]) if row["delivering"] else 0


async def prune(pool: Queries, keep_days: int = KEEP_DAYS) -> None:
    await pool.execute(
        "DELETE FROM webhook_documents "
        "WHERE GREATEST(announced_at, polled_at) < now() - make_interval(days => $1)",
        keep_days,
    )
