"""The `dead_letters` table and the erased accounts' digests: what the processor records of bad
input and consults about late records.

A dead letter is recorded in the same transaction as the batch it came from (or on its own when
the batch is being isolated record by record); a redelivered batch records nothing twice (the
source position is the key)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

import asyncpg


class DeadLetterRow(NamedTuple):
    key: str
    user_id: str
    source_topic: str
    source_partition: int
    source_offset: int
    data_type: str
    error_class: str
    reason: str
    dead_lettered_at: datetime | None = None
    """Set by the database when the row is written."""


_WRITTEN = len(DeadLetterRow._fields) - 1


async def record_dead_letters(conn: asyncpg.Connection, rows: Sequence[DeadLetterRow]) -> None:
    if not rows:
        return
    columns = [list(column) for column in zip(*(r[:_WRITTEN] for r in rows), strict=True)]
    await conn.execute(
        f"INSERT INTO dead_letters ({', '.join(DeadLetterRow._fields[:_WRITTEN])})\n"
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int8[],"
        " $6::text[], $7::text[], $8::text[])\n"
        "ON CONFLICT (source_topic, source_partition, source_offset) DO NOTHING",
        *columns,
    )


async def list_dead_letters(
    conn: asyncpg.Connection, *, user_id: str | None = None, limit: int = 100
) -> list[DeadLetterRow]:
    """The newest dead letters first, of one user or of all."""
    rows = await conn.fetch(
        f"SELECT {', '.join(DeadLetterRow._fields)} FROM dead_letters\n"
        "WHERE $1::text IS NULL OR user_id = $1\n"
        "ORDER BY dead_lettered_at DESC, source_topic, source_partition, source_offset DESC\n"
        "LIMIT $2",
        user_id,
        limit,
    )
    return [DeadLetterRow(*r) for r in rows]


def subject_digest(user_id: str) -> bytes:
    """How an erasure receipt remembers whose it was without keeping the id (migration 0008)."""
    return hashlib.sha256(user_id.encode()).digest()


async def erased_users(conn: asyncpg.Connection, user_ids: Iterable[str]) -> set[str]:
    """Which of these (account-less) users were erased."""
    by_digest = {subject_digest(u): u for u in set(user_ids)}
    if not by_digest:
        return set()
    rows = await conn.fetch(
        "SELECT DISTINCT subject_digest FROM erasures WHERE subject_digest = ANY($1::bytea[])",
        list(by_digest),
    )
    return {by_digest[bytes(r[0])] for r in rows}
