"""One batch of raw records, from bytes to committed rows: the processor's core, used by both the
worker and the replay command.

    prepare: stream_processor.decoding (decode → validate → canonical JSON → typed columns)
    write:   one PostgreSQL transaction: upsert each table, take the changed users' trend
             locks (then `documents_written` is set), NOTIFY myhealth_user_changed for every
             user whose rows changed (delivered at commit), recompute trends, publish trend
             events and dead letters → commit

`prepare` is CPU only and yields to the event loop now and then, so callers (the worker loop,
the replay) decode batch N+1 while batch N's transaction waits on PostgreSQL or the broker.
The worker and the replay let batch N+1's `write` start once batch N's `documents_written` is
set (stream_processor.writer).

`process` (prepare + write) returns only when the batch's transaction committed: the caller
acknowledges the offsets afterwards (at-least-once). A database or broker failure is retried
with capped exponential backoff, for as long as it takes; the only way out without a commit is
cancellation (shutdown), and then nothing may be acknowledged.

Trend events and dead letters are sent and acknowledged by the broker *before* the commit: if
the process dies in between, the batch is redelivered and they are sent again (at-least-once),
whereas sending after the commit could lose them, since a redelivered batch changes nothing and
so would emit nothing.

A record the database itself refuses (a value out of a column's range, a foreign key that
vanished mid-batch) is isolated by replaying the batch one record per transaction; the refused
record goes to the dead-letter topic like any other bad input."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from schemas.keys import document_key_of, trend_key, user_of
from schemas.records import encode_trend
from schemas.topics import DLQ, TRENDS
from stream_processor import metrics, trends
from stream_processor.decoding import Refused, data_type_for, decode_batch
from stream_processor.dlq import DeadLetter
from stream_processor.storage.dead_letters import erased_users, record_dead_letters
from stream_processor.storage.documents import (
    DocumentRow,
    delete_documents,
    existing_users,
    newest_per_key,
    notify_users_changed,
    write_documents,
)

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]
Outgoing = tuple[str, bytes | None, bytes | None, Headers]
"""(topic, key, value, headers); a value of None is a tombstone"""


class Publisher(Protocol):
    async def send_all(self, messages: Sequence[Outgoing]) -> None:
        """Send and wait until the broker acknowledged every message (acks=all)."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """A raw record as consumed, whichever consumer read it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    """None: a tombstone, the document under `key` was deleted (schemas.keys.raw_key)."""
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class _Deletion:
    """A tombstone on a raw topic: the row of (user, document key) goes."""

    incoming: Incoming
    data_type: str
    user_id: str
    document_key: str


@dataclass(slots=True)
class _Valid:
    """A record that passed validation, reduced to its row: the decoded document is dropped as
    soon as its JSON and typed values are taken, which keeps a batch's memory small."""

    incoming: Incoming
    data_type: str
    row: DocumentRow


@dataclass(slots=True)
class Prepared:
    """A batch decoded and validated, ready for its transaction (see `BatchProcessor.write`)."""

    batch: Sequence[Incoming]
    valid: list[_Valid]
    dead: list[DeadLetter]
    started: float
    deletions: list[_Deletion] = field(default_factory=list)


@dataclass(slots=True)
class Outcomes:
    """What became of records in PostgreSQL: counted per batch, summed per replay."""

    persisted: int = 0
    unchanged: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    trends: int = 0

    def add(self, other: Outcomes) -> None:
        self.persisted += other.persisted
        self.unchanged += other.unchanged
        self.dead_lettered += other.dead_lettered
        self.skipped += other.skipped
        self.trends += other.trends


@dataclass(slots=True)
class BatchResult(Outcomes):
    consumed: int = 0
    attempts: int = 0
    changed_days: set[tuple[str, str, str]] = field(default_factory=set)


_DATA_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
)


class BatchProcessor:
    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: Publisher,
        *,
        topic_prefix: str = "",
        dead_letter: bool = True,
        retry_base_s: float = 0.2,
        retry_cap_s: float = 10.0,
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        self._prefix = topic_prefix
        self._dead_letter = dead_letter
        self._retry_base = retry_base_s
        self._retry_cap = retry_cap_s
        self._trends_topic = f"{topic_prefix}{TRENDS}"
        self._dlq_topic = f"{topic_prefix}{DLQ}"

    async def process(self, batch: Sequence[Incoming]) -> BatchResult:
        """Persist one batch; returns after its transaction committed (see module docstring)."""
        return await self.write(await self.prepare(batch))

    async def prepare(self, batch: Sequence[Incoming]) -> Prepared:
        """Decode and validate a batch (pure CPU, see stream_processor.decoding). Callers overlap
        `prepare` of batch N+1 with `write` of batch N."""
        started = time.perf_counter()
        valid: list[_Valid] = []
        dead: list[DeadLetter] = []
        deletions: list[_Deletion] = []
        records = [i for i in batch if i.value is not None]
        outcomes = await decode_batch([(i.topic, i.value or b"") for i in records], self._prefix)
        for incoming, outcome in zip(records, outcomes, strict=True):
            if isinstance(outcome, Refused):
                dead.append(
                    _dead(incoming, outcome.error_class, outcome.error_message, outcome.data_type)
                )
            else:
                valid.append(_Valid(incoming, data_type_for(incoming.topic, self._prefix), outcome))
        if len(records) < len(batch):
            deletions = self._deletions(batch)
            valid, deletions = _last_word(valid, deletions)
        return Prepared(batch, valid, dead, started, deletions)

    def _deletions(self, batch: Sequence[Incoming]) -> list[_Deletion]:
        out: list[_Deletion] = []
        for incoming in batch:
            if incoming.value is not None:
                continue
            data_type = data_type_for(incoming.topic, self._prefix)
            user, key = user_of(incoming.key), document_key_of(incoming.key)
            if data_type == "unknown" or not user or not key or not _is_uuid(user):
                # A tombstone of a key the processor never stored (an erased account's key of
                # the layout before compaction, an outsider's): nothing to remove.
                metrics.SKIPPED.labels(data_type, "tombstone_without_row").inc()
                continue
            out.append(_Deletion(incoming, data_type, user, key))
        return out

    async def write(
        self, prepared: Prepared, documents_written: asyncio.Event | None = None
    ) -> BatchResult:
        """Persist a prepared batch; returns after its transaction committed, retrying until it
        does (see the module docstring). `documents_written` is set once the batch's upserts
        are done and its users' trend locks held (stream_processor.writer starts the next
        batch then), or at the latest when it committed."""
        result = BatchResult(consumed=len(prepared.batch))
        written = documents_written or asyncio.Event()
        await self._retrying(
            lambda: self._persist(
                prepared.valid, prepared.dead, result, written, prepared.deletions
            ),
            result,
        )
        written.set()
        self._observe(prepared.batch, time.perf_counter() - prepared.started)
        return result

    # -- persist (retried as a whole) -------------------------------------------------------------

    async def _retrying(self, attempt: Callable[[], Awaitable[None]], result: BatchResult) -> None:
        delay = self._retry_base
        while True:
            result.attempts += 1
            try:
                await attempt()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.BATCH_RETRIES.labels(type(exc).__name__).inc()
                log.warning(
                    "batch not committed, retrying",
                    extra={
                        "error": f"{type(exc).__name__}: {exc}",
                        "attempt": result.attempts,
                        "retry_in_s": round(delay, 2),
                    },
                )
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self._retry_cap)

    async def _persist(
        self,
        valid: list[_Valid],
        dead: list[DeadLetter],
        result: BatchResult,
        documents_written: asyncio.Event,
        deletions: list[_Deletion],
    ) -> None:
        result.persisted = result.unchanged = result.skipped = result.trends = 0
        result.dead_lettered = 0
        result.changed_days = set()
        async with self._pool.acquire() as conn:
            try:
                await self._transaction(conn, valid, [*dead], result, documents_written, deletions)
            except _DATA_ERRORS as exc:
                log.warning(
                    "the database refused a batch; isolating the record(s) it refuses",
                    extra={"error": f"{type(exc).__name__}: {exc}"},
                )
                await self._one_by_one(conn, valid, dead, result, deletions)

    async def _transaction(
        self,
        conn: asyncpg.Connection,
        valid: list[_Valid],
        dead: list[DeadLetter],
        result: BatchResult,
        documents_written: asyncio.Event | None = None,
        deletions: Sequence[_Deletion] = (),
    ) -> None:
        async with conn.transaction():
            users = await existing_users(
                conn, [*(v.row.user_id for v in valid), *(d.user_id for d in deletions)]
            )
            by_type: dict[str, list[DocumentRow]] = defaultdict(list)
            orphans: list[tuple[str, Incoming]] = []
            for item in valid:
                if item.row.user_id in users:
                    by_type[item.data_type].append(item.row)
                else:
                    orphans.append((item.row.user_id, item.incoming))
                    metrics.SKIPPED.labels(item.data_type, "unknown_user").inc()
            result.skipped = len(orphans)
            if result.skipped:
                log.warning(
                    "records of users without an account were not written",
                    extra={"records": result.skipped},
                )
            erased, dead = await self._erased_out(conn, orphans, dead)
            # A bad record of an erased account is tombstoned, not dead-lettered.
            result.dead_lettered = len(dead)
            changed: set[tuple[str, str, str]] = set()
            gone: dict[str, list[tuple[str, str]]] = defaultdict(list)
            for deletion in deletions:
                if deletion.user_id in users:
                    gone[deletion.data_type].append((deletion.user_id, deletion.document_key))
            for data_type, keys in gone.items():
                removed = await delete_documents(conn, data_type, keys)
                changed.update((user, data_type, day or "") for user, day in removed)
                metrics.DELETED.labels(data_type).inc(len(removed))
            for data_type, rows in by_type.items():
                written = await write_documents(conn, data_type, newest_per_key(rows))
                changed.update((user, data_type, day or "") for user, day in written)
                result.persisted += len(written)
                result.unchanged += len(rows) - len(written)
                metrics.PERSISTED.labels(data_type).inc(len(written))
                metrics.UNCHANGED.labels(data_type).inc(len(rows) - len(written))
            await trends.lock_users(conn, (user for user, _, _ in changed))
            if documents_written is not None:
                # The next batch may start its upserts now. Its trends wait for these users'
                # locks, so a user's trends are still computed and published in batch order.
                documents_written.set()
            await notify_users_changed(conn, (user for user, _, _ in changed))
            fresh = await trends.recompute(conn, changed)
            await record_dead_letters(conn, [d.row() for d in dead])
            await self._publish(fresh, dead, erased)
            result.changed_days = changed
            result.trends = len(fresh)

    async def _erased_out(
        self,
        conn: asyncpg.Connection,
        orphans: list[tuple[str, Incoming]],
        dead: list[DeadLetter],
    ) -> tuple[list[Incoming], list[DeadLetter]]:
        """Records (valid or dead) of erased accounts, which get a tombstone instead of being
        kept anywhere, and the dead letters left once those are taken out."""
        candidates = {user for user, _ in orphans} | {d.user_id for d in dead}
        erased = await erased_users(conn, candidates) if candidates else set()
        if not erased:
            return [], dead
        late = [incoming for user, incoming in orphans if user in erased]
        late += [_incoming_of(d) for d in dead if d.user_id in erased]
        metrics.ERASED_LATE.inc(len(late))
        return late, [d for d in dead if d.user_id not in erased]

    async def _publish(
        self, fresh: list[Any], dead: list[DeadLetter], erased: Sequence[Incoming] = ()
    ) -> None:
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        messages: list[Outgoing] = [
            (
                self._trends_topic,
                trend_key(row.user_id, row.metric, row.day.isoformat()),
                encode_trend(trends.to_event(row, now_ms)),
                [],
            )
            for row in fresh
        ]
        if self._dead_letter:
            messages += [(self._dlq_topic, d.letter_key, d.value, d.headers()) for d in dead]
        # A record of an erased account that arrived after its erasure: compaction removes it.
        messages += [(i.topic, i.key, None, []) for i in erased if i.key is not None]
        if messages:
            await self._publisher.send_all(messages)
        for letter in dead:
            letter.count()
        metrics.TRENDS_PUBLISHED.inc(len(fresh))

    async def _one_by_one(
        self,
        conn: asyncpg.Connection,
        valid: list[_Valid],
        dead: list[DeadLetter],
        result: BatchResult,
        deletions: list[_Deletion],
    ) -> None:
        """Each record in its own transaction; the ones PostgreSQL refuses are dead-lettered."""
        dead_lettered = await self._record_and_publish(conn, dead) if dead else 0
        changed: set[tuple[str, str, str]] = set()
        totals = BatchResult()
        if deletions:  # keys the batch's other records do not touch (`_last_word`)
            removed = BatchResult()
            await self._transaction(conn, [], [], removed, deletions=deletions)
            changed |= removed.changed_days
            totals.add(removed)
        for item in valid:
            single = BatchResult()
            try:
                await self._transaction(conn, [item], [], single)
            except _DATA_ERRORS as exc:
                letter = _dead(
                    item.incoming, "DataRefused", f"{type(exc).__name__}: {exc}", item.data_type
                )
                dead_lettered += await self._record_and_publish(conn, [letter])
                continue
            changed |= single.changed_days
            totals.add(single)
        result.persisted, result.unchanged = totals.persisted, totals.unchanged
        result.skipped, result.trends, result.changed_days = totals.skipped, totals.trends, changed
        result.dead_lettered = dead_lettered

    async def _record_and_publish(self, conn: asyncpg.Connection, dead: list[DeadLetter]) -> int:
        """Dead-letter `dead` (tombstoning what belongs to erased accounts instead); how many
        were dead-lettered."""
        async with conn.transaction():
            late, dead = await self._erased_out(conn, [], dead)
            await record_dead_letters(conn, [d.row() for d in dead])
            await self._publish([], dead, late)
        return len(dead)

    # -- after the commit -------------------------------------------------------------------------

    def _observe(self, batch: Sequence[Incoming], seconds: float) -> None:
        for topic, count in Counter(incoming.topic for incoming in batch).items():
            metrics.CONSUMED.labels(data_type_for(topic, self._prefix)).inc(count)
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.BATCH_SECONDS.observe(seconds)
        stamps = [i.timestamp_ms for i in batch if i.timestamp_ms is not None]
        if stamps:
            metrics.LAST_RECORD_TIMESTAMP.set(max(stamps) / 1000)
        metrics.LAST_BATCH_TIMESTAMP.set(time.time())


def _incoming_of(letter: DeadLetter) -> Incoming:
    return Incoming(letter.topic, letter.partition, letter.offset, letter.key, letter.value)


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


def _last_word(
    valid: list[_Valid], deletions: list[_Deletion]
) -> tuple[list[_Valid], list[_Deletion]]:
    """Within a batch, the record of a document that comes last decides: a tombstone drops the
    versions before it, a version after a tombstone brings the document back. (One user's
    records share a partition, so batch order is their order.)"""
    last: dict[tuple[str, str, str], tuple[int, int]] = {}
    for item in valid:
        i = item.incoming
        key = (item.data_type, item.row.user_id, item.row.key)
        last[key] = max(last.get(key, (-1, -1)), (i.partition, i.offset))
    for d in deletions:
        key = (d.data_type, d.user_id, d.document_key)
        last[key] = max(last.get(key, (-1, -1)), (d.incoming.partition, d.incoming.offset))
    kept_deletions = [
        d
        for d in deletions
        if last[(d.data_type, d.user_id, d.document_key)]
        == (d.incoming.partition, d.incoming.offset)
    ]
    doomed = {(d.data_type, d.user_id, d.document_key) for d in kept_deletions}
    return [v for v in valid if (v.data_type, v.row.user_id, v.row.key) not in doomed], (
        kept_deletions
    )


def _dead(incoming: Incoming, error_class: str, message: str, data_type: str) -> DeadLetter:
    return DeadLetter(
        incoming.topic,
        incoming.partition,
        incoming.offset,
        incoming.key,
        incoming.value or b"",
        error_class,
        message,
        data_type,
    )


def last_offsets(batch: Sequence[Incoming]) -> dict[tuple[str, int], int]:
    """The highest offset of each partition in a batch."""
    last: dict[tuple[str, int], int] = {}
    for item in batch:
        tp = (item.topic, item.partition)
        last[tp] = max(last.get(tp, -1), item.offset)
    return last
