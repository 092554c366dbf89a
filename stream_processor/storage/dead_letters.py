"""The `dead_letters` table and the erased accounts' digests: what the processor records of bad
input and consults about late records.

A dead letter is recorded in the same transaction as the batch it came from (or on its own when
the batch is being isolated record by record); a redelivered batch records nothing twice (the
source position is the key)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    key: str
    user_id: str
    source_topic: str
    source_partition: int
    source_offset: int
    data_type: str
    error_class: str
    reason: str


async def record_dead_letters(conn: asyncpg.Connection, rows: Sequence[DeadLetterRow]) -> None:
    if not rows:
        return
    await conn.execute(
        "INSERT INTO dead_letters (key, user_id, source_topic, source_partition, source_offset,"
        " data_type, error_class, reason)\n"
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int8[],"
        " $6::text[], $7::text[], $8::text[])\n"
        "ON CONFLICT (source_topic, source_partition, source_offset) DO NOTHING",
        [r.key for r in rows],
        [r.user_id for r in rows],
        [r.source_topic for r in rows],
        [r.source_partition for r in rows],
        [r.source_offset for r in rows],
        [r.data_type for r in rows],
        [r.error_class for r in rows],
        [r.reason for r in rows],
    )


@dataclass(frozen=True, slots=True)
class ListedDeadLetter:
    key: str
    user_id: str
    source_topic: str
    source_partition: int
    source_offset: int
    data_type: str
    error_class: str
    reason: str
    dead_lettered_at: datetime


async def list_dead_letters(
    conn: asyncpg.Connection, *, user_id: str | None = None, limit: int = 100
) -> list[ListedDeadLetter]:
    """The newest dead letters first, of one user or of all."""
    rows = await conn.fetch(
        "SELECT key, user_id, source_topic, source_partition, source_offset, data_type,"
        " error_class, reason, dead_lettered_at FROM dead_letters\n"
        "WHERE $1::text IS NULL OR user_id = $1\n"
        "ORDER BY dead_lettered_at DESC, source_topic, source_partition, source_offset DESC\n"
        "LIMIT $2",
        user_id,
        limit,
    )
    return [ListedDeadLetter(*r) for r in rows]


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
