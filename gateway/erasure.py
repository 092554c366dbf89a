"""Erasure of an account, as a process with a receipt (table `erasures`).

1. `delete_account` (inside `DELETE /api/me`'s transaction): every row of the user is counted
   and deleted — the tables come from the catalog (a `user_id` column or a foreign key to
   `users`), so a table added later is erased without anyone remembering to list it — together
   with the throttle rows keyed by the account's id, email or username; the receipt is written
   `in_progress`, holding the user id the next step needs.
2. `Eraser.run` (a background task, resumed at startup and on a timer while a receipt is in
   progress): reads the user's partition of every compacted topic from the beginning to its end,
   publishes a tombstone for each of the user's keys whose newest record is not one already, then
   completes the receipt and forgets the user id. Compaction removes the records within
   ERASURE_DEADLINE_MS and the tombstones TOMBSTONE_RETENTION_MS later.

The receipt row is taken `FOR UPDATE SKIP LOCKED` for the whole run, so two replicas never run one
erasure at once, and a replica that dies mid-run releases it to the next. Tombstones are
idempotent: a run repeated after a failure only costs time."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import BaseModel, ConfigDict, Field, computed_field

from gateway.producer import SharedProducer
from gateway.security.throttle import account_prefix
from schemas.db import Pool, Queries, Record, labelled
from schemas.keys import partition_of, user_key, user_of
from schemas.settings import KafkaSettings
from schemas.topics import ERASURE_DEADLINE_MS, TOMBSTONE_RETENTION_MS, registry

log = logging.getLogger("gateway.erasure")

TOMBSTONES_REMOVED_AFTER = timedelta(milliseconds=TOMBSTONE_RETENTION_MS)
"""A tombstone itself is readable this long after compaction removed what it deletes."""

# Tables with a `user_id` column or a foreign key to `users`, and the column's type; `erasures`
# is the receipt itself (its user id is cleared when the erasure completes).
_USER_LINKS = """
SELECT c.relname AS table_name, a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS column_type
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND a.attnum > 0 AND NOT a.attisdropped AND c.relname NOT IN ('users', 'erasures')
  AND (a.attname = 'user_id' OR EXISTS (
        SELECT 1 FROM pg_constraint k
        WHERE k.contype = 'f' AND k.conrelid = c.oid AND k.confrelid = 'users'::regclass
          AND a.attnum = ANY (k.conkey)))
ORDER BY 1, 2
"""

_COMPLETE = """
UPDATE erasures SET status = 'complete', user_id = NULL, tombstones = $2::text::jsonb,
       completed_at = now(), compaction_deadline = now() + make_interval(secs => $3),
       last_error = NULL
WHERE id = $1
"""


@dataclass(frozen=True, slots=True)
class UserLink:
    table: str
    column: str
    type: str

    def where(self) -> str:
        # The user id arrives as text and is cast to the column's own type, so the column's
        # index serves the lookup (dead_letters.user_id is text, the others uuid).
        return f"{_ident(self.column)} = $1::text::{self.type}"


ErasureStatus = Literal["in_progress", "complete"]


class ErasureReceipt(BaseModel):
    """What `GET /api/erasures/{id}` answers: it names no user."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    status: ErasureStatus
    requested_at: datetime
    rows_deleted: dict[str, int] = Field(description="Rows deleted, by table")
    tombstones: dict[str, int] = Field(
        description="Tombstones published, by Kafka topic (filled in when complete)"
    )
    completed_at: datetime | None
    compaction_deadline: datetime | None = Field(
        description="By then compaction has removed every record of the account from Kafka"
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="By then the tombstones themselves (keys without data) are gone too"
    )
    @property
    def tombstones_removed_by(self) -> datetime | None:
        if self.compaction_deadline is None:
            return None
        return self.compaction_deadline + TOMBSTONES_REMOVED_AFTER


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def subject_digest(user_id: UUID | str) -> bytes:
    """What a receipt keeps of whom it erased: the processor recognises a late record of the
    account by it, nobody can read the id back from it."""
    return hashlib.sha256(str(user_id).encode()).digest()


async def user_links(conn: Queries) -> list[UserLink]:
    conn = labelled(conn, "user_links")
    rows = await conn.fetch(_USER_LINKS)
    return [UserLink(r["table_name"], r["column_name"], r["column_type"]) for r in rows]


async def delete_account(conn: Queries, user_id: UUID) -> UUID | None:
    """Delete every row of the account and write its receipt, in the caller's transaction.
    None when the account no longer exists (a concurrent erasure took it)."""
    conn = labelled(conn, "delete_account")
    user = await conn.fetchrow(
        "SELECT email, username FROM users WHERE id = $1 FOR UPDATE", user_id
    )
    if user is None:
        return None
    links = await user_links(conn)
    counted: dict[str, int] = {"users": 1}
    for link in links:
        found = await conn.fetchval(
            f"SELECT count(*) FROM {_ident(link.table)} WHERE {link.where()}", str(user_id)
        )
        counted[link.table] = counted.get(link.table, 0) + int(found)
    await conn.execute("DELETE FROM users WHERE id = $1", user_id)
    # Most tables went with the cascade; this takes what no foreign key reaches (dead letters).
    for link in links:
        await conn.execute(f"DELETE FROM {_ident(link.table)} WHERE {link.where()}", str(user_id))
    accounts = [str(user_id), user["email"].lower()]
    if user["username"]:
        accounts.append(user["username"].lower())
    status = await conn.execute(
        "DELETE FROM auth_throttle WHERE EXISTS "
        "(SELECT 1 FROM unnest($1::text[]) AS p WHERE starts_with(key, p))",
        [account_prefix(a) for a in accounts],
    )
    counted["auth_throttle"] = int(status.split()[-1])
    erasure_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO erasures (id, user_id, subject_digest, status, rows_deleted) "
        "VALUES ($1, $2, $3, 'in_progress', $4::text::jsonb)",
        erasure_id,
        user_id,
        subject_digest(user_id),
        json.dumps(counted, sort_keys=True),
    )
    return erasure_id


async def get_receipt(conn: Queries, erasure_id: UUID) -> ErasureReceipt | None:
    row = await labelled(conn, "get_receipt").fetchrow(
        "SELECT id, status, requested_at, rows_deleted::text, tombstones::text, completed_at, "
        "compaction_deadline FROM erasures WHERE id = $1",
        erasure_id,
    )
    return None if row is None else _receipt(row)


def _receipt(row: Record) -> ErasureReceipt:
    return ErasureReceipt(
        id=row["id"],
        status=row["status"],
        requested_at=row["requested_at"],
        rows_deleted=json.loads(row["rows_deleted"]),
        tombstones=json.loads(row["tombstones"]),
        completed_at=row["completed_at"],
        compaction_deadline=row["compaction_deadline"],
    )


def compacted_topics(settings: KafkaSettings) -> list[str]:
    return [
        spec.name
        for spec in registry(settings.topic_prefix)
        if spec.config.get("cleanup.policy") == "compact"
    ]


async def live_keys(
    settings: KafkaSettings,
    producer: AIOKafkaProducer,
    topics: Sequence[str],
    user_id: str,
    *,
    stall_s: float,
) -> dict[str, list[bytes]]:
    """The user's keys on each topic whose newest record is not a tombstone, read from the
    user's partition only, from the beginning to the end offset it had when reading began.
    Raises TimeoutError when a partition yields nothing for `stall_s` short of its end."""
    consumer = AIOKafkaConsumer(
        **settings.client_kwargs(),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        existing = await consumer.topics()
        # A topic that does not exist holds nothing of anyone. The producer's metadata gives
        # the partition count the tombstones will be partitioned by.
        partitions = [
            TopicPartition(
                t, partition_of(user_key(user_id), len(await producer.partitions_for(t)))
            )
            for t in topics
            if t in existing
        ]
        if not partitions:
            return {}
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        return await _read_user_keys(consumer, partitions, user_id, stall_s)
    finally:
        await consumer.stop()


async def _read_user_keys(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], user_id: str, stall_s: float
) -> dict[str, list[bytes]]:
    end = await consumer.end_offsets(partitions)
    deleted: dict[tuple[str, bytes], bool] = {}
    pending = {tp for tp in partitions if await consumer.position(tp) < end[tp]}
    progress = time.monotonic()
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=500)
        for tp, messages in batch.items():
            for message in messages:
                if message.offset < end[tp] and user_of(message.key) == user_id:
                    deleted[(tp.topic, message.key)] = message.value is None
            progress = time.monotonic()
        pending = {tp for tp in pending if await consumer.position(tp) < end[tp]}
        if pending and time.monotonic() - progress > stall_s:
            raise TimeoutError(f"reading {sorted(str(tp) for tp in pending)} stalled")
    live: dict[str, list[bytes]] = {tp.topic: [] for tp in partitions}
    for (topic, key), is_tombstone in deleted.items():
        if not is_tombstone:
            live[topic].append(key)
    return live


async def publish_tombstones(
    producer: SharedProducer, user_id: str, *, stall_s: float
) -> dict[str, int]:
    """Tombstone every live key of the user on every compacted topic; the count per topic."""
    kafka = await producer.get()
    live = await live_keys(
        producer.settings, kafka, compacted_topics(producer.settings), user_id, stall_s=stall_s
    )
    sent = [await kafka.send(topic, None, key=key) for topic, keys in live.items() for key in keys]
    await asyncio.gather(*sent)
    return {topic: len(keys) for topic, keys in live.items()}


class Eraser:
    """Runs in-progress erasures to completion: one task per new erasure, and a loop that picks
    up what a restart or a broker outage left in progress."""

    def __init__(self, pool: Pool, producer: SharedProducer, *, stall_s: float) -> None:
        self._pool = pool
        self._producer = producer
        self._stall_s = stall_s
        self._tasks: set[asyncio.Task[bool]] = set()

    def start(self, erasure_id: UUID) -> None:
        task = asyncio.create_task(self.run(erasure_id), name="erasure")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, erasure_id: UUID) -> bool:
        """Complete the erasure unless it is complete or another process runs it; True when this
        call completed it. A failure is recorded on the receipt and retried later."""
        try:
            async with labelled(self._pool, "run").acquire() as conn, conn.transaction():
                # The row lock is held while the topics are read; the pool's idle limit is
                # for requests, not for this.
                await conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
                user_id = await conn.fetchval(
                    "SELECT user_id FROM erasures WHERE id = $1 AND status = 'in_progress' "
                    "FOR UPDATE SKIP LOCKED",
                    erasure_id,
                )
                if user_id is None:
                    return False
                tombstones = await publish_tombstones(
                    self._producer, str(user_id), stall_s=self._stall_s
                )
                await conn.execute(
                    _COMPLETE,
                    erasure_id,
                    json.dumps(tombstones, sort_keys=True),
                    ERASURE_DEADLINE_MS / 1000,
                )
        except Exception as exc:
            log.warning(
                "erasure not complete, will retry",
                extra={"erasure_id": str(erasure_id), "error": repr(exc)},
            )
            await self._record_error(erasure_id, repr(exc))
            return False
        log.info(
            "erasure complete",
            extra={"erasure_id": str(erasure_id), "tombstones": sum(tombstones.values())},
        )
        return True

    async def _record_error(self, erasure_id: UUID, error: str) -> None:
        try:
            await labelled(self._pool, "record_error").execute(
                "UPDATE erasures SET last_error = $2 WHERE id = $1 AND status = 'in_progress'",
                erasure_id,
                error[:1000],
            )
        except Exception as exc:  # the database may be what failed; the retry loop goes on
            log.warning("erasure error not recorded", extra={"error": repr(exc)})

    async def resume(self) -> int:
        """Run every in-progress erasure no other process holds; how many this completed."""
        ids = await labelled(self._pool, "resume").fetch(
            "SELECT id FROM erasures WHERE status = 'in_progress' ORDER BY requested_at"
        )
        completed = 0
        for row in ids:
            completed += await self.run(row["id"])
        return completed

    async def resume_periodically(self, interval_s: float) -> None:
        while True:
            try:
                await self.resume()
            except Exception as exc:  # an outage must not end the loop
                log.warning("in-progress erasures not resumed", extra={"error": repr(exc)})
            await asyncio.sleep(interval_s)

    async def wait(self) -> None:
        """Until the erasures started by this process have run (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
