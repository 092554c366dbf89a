"""`python -m stream_processor replay [--topics …] [--since DATE | --from-beginning]`

Reprocesses raw topics through the same batch pipeline as the worker. It is also the
disaster-recovery path (see below).

Strategy: a dedicated replay consumer, not a reset of the main group's offsets.
  The replay reads with its own consumer that joins no group and commits nothing: it assigns
  itself every partition of the chosen topics, seeks to the start (the beginning, or the first
  record at or after --since), notes each partition's end offset, and stops when it reaches
  them. Why:
  * the workers do not have to be stopped: their group's offsets are never touched, so live
    processing continues and nothing they have not seen yet can be skipped by a mistaken reset;
  * it is a bounded job that knows when it is done and exits 0, which is what an operator (or
    a Kubernetes Job) needs; resetting a group only says "start again" and never "finished";
  * it is safe to interrupt and rerun: writes are idempotent upserts (same content hash → no
    write; an older fetched_at never overwrites a newer one), so a rerun converges to the same
    rows;
  * trends stay single-owner even while workers run: trend recomputation takes a per-user
    advisory lock inside the batch transaction.
  Records that fail validation were dead-lettered when first consumed; the replay counts them
  but sends them to oura.dlq again only with --dead-letter.

`--since DATE` selects records by their Kafka timestamp (when the collector produced them),
not by the document's day: "reprocess what arrived since".

Disaster recovery (rebuilding the database):
  1. create an empty database and migrate it: `python -m migrations upgrade` (Alembic head);
  2. restore the account tables (users, oauth_tokens, collection_cursors) from the PostgreSQL
     backup: they are not in Kafka, and health records are written only for existing users
     (records of users without an account are counted as skipped, never invented);
  3. `python -m stream_processor replay --from-beginning`: every Oura table and daily_trends
     are rebuilt from the raw topics (retention is infinite) and the trends republished; the
     rows are identical to what the workers wrote (same content hashes);
  4. start (or keep running) the workers.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.data_types import BY_NAME, DATA_TYPES
from schemas.settings import DatabaseSettings, KafkaSettings
from schemas.topics import RAW_PREFIX, raw_topic
from stream_processor.kafka_io import KafkaPublisher
from stream_processor.pipeline import BatchProcessor, BatchResult, Incoming, Outcomes, Prepared
from stream_processor.settings import ProcessorSettings
from stream_processor.storage.pool import open_pool
from stream_processor.writer import OrderedWriter

log = logging.getLogger(__name__)


class ReplayError(Exception):
    """A replay that cannot start; the message says why."""


@dataclass(slots=True)
class ReplayStats(Outcomes):
    records: int = 0
    batches: int = 0
    seconds: float = 0.0

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def resolve_topics(names: list[str] | None, prefix: str) -> list[str]:
    """Data type names (daily_sleep) or raw topic names (oura.raw.daily_sleep) -> topics."""
    if not names:
        return [raw_topic(t.name, prefix) for t in DATA_TYPES]
    topics = []
    for name in names:
        data_type = name.removeprefix(prefix).removeprefix(RAW_PREFIX)
        if data_type not in BY_NAME:
            valid = ", ".join(BY_NAME)
            raise ReplayError(f"unknown topic or data type {name!r}; known data types: {valid}")
        topics.append(raw_topic(data_type, prefix))
    return topics


async def replay(
    settings: ProcessorSettings,
    kafka: KafkaSettings,
    db: DatabaseSettings,
    *,
    topics: list[str] | None = None,
    since: date | None = None,
    dead_letter: bool = False,
) -> ReplayStats:
    """Reprocess the chosen raw topics up to their current end; returns what it did."""
    names = resolve_topics(topics, kafka.topic_prefix)
    pool = await open_pool(db)
    publisher = KafkaPublisher(kafka)
    consumer = AIOKafkaConsumer(
        **kafka.client_kwargs(),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.batch_size,
        fetch_max_bytes=32 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    try:
        await publisher.start()
        await consumer.start()
        processor = BatchProcessor(
            pool,
            publisher,
            topic_prefix=kafka.topic_prefix,
            dead_letter=dead_letter,
            retry_base_s=settings.retry_base_s,
            retry_cap_s=settings.retry_cap_s,
        )
        return await _run(consumer, processor, names, since, settings.batch_size)
    finally:
        await consumer.stop()
        await publisher.stop()
        await pool.close()


async def _run(
    consumer: AIOKafkaConsumer,
    processor: BatchProcessor,
    names: list[str],
    since: date | None,
    batch_size: int,
) -> ReplayStats:
    partitions = await _partitions(consumer, names)
    consumer.assign(partitions)
    ends = await consumer.end_offsets(partitions)
    await _seek(consumer, partitions, since)
    remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
    stats = ReplayStats()
    started = time.perf_counter()
    log.info("replay started", extra={"topics": names, "partitions": len(partitions)})
    writer = OrderedWriter(processor)

    async def counted(_: Prepared, result: BatchResult) -> None:
        _add(stats, result)

    # Batch N+1 is fetched and decoded while batch N's transaction runs (two at most overlap,
    # as in the worker: stream_processor.writer).
    try:
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=batch_size)
            batch = [
                Incoming(tp.topic, tp.partition, m.offset, m.key, m.value, m.timestamp)
                for tp, messages in fetched.items()
                for m in messages
                if m.offset < ends[tp]
            ]
            if batch:
                prepared = await processor.prepare(batch)
                await writer.make_room()
                writer.start(prepared, counted)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
                    consumer.pause(tp)
        await writer.finish()
    finally:
        await writer.settle(0)
    stats.seconds = time.perf_counter() - started
    return stats


async def _partitions(consumer: AIOKafkaConsumer, names: list[str]) -> list[TopicPartition]:
    # The consumer joins no group and subscribes to nothing, so it has no metadata of its own.
    cluster = await consumer._client.fetch_all_metadata()
    missing = [n for n in names if n not in cluster.topics()]
    if missing:
        raise ReplayError(f"topics do not exist: {', '.join(missing)}")
    partitions: list[TopicPartition] = []
    for name in names:
        numbers = cluster.partitions_for_topic(name) or set()
        partitions += [TopicPartition(name, p) for p in sorted(numbers)]
    return partitions


async def _seek(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], since: date | None
) -> None:
    if since is None:
        await consumer.seek_to_beginning(*partitions)
        return
    moment = datetime.combine(since, datetime.min.time(), UTC)
    found = await consumer.offsets_for_times(
        {tp: int(moment.timestamp() * 1000) for tp in partitions}
    )
    ends = await consumer.end_offsets(partitions)
    for tp in partitions:
        hit = found.get(tp)
        consumer.seek(tp, hit.offset if hit is not None else ends[tp])


def _add(stats: ReplayStats, result: BatchResult) -> None:
    stats.records += result.consumed
    stats.batches += 1
    stats.add(result)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--topics",
        nargs="+",
        metavar="TOPIC",
        help="data types or raw topic names to replay (default: every raw topic)",
    )
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--since",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="replay records produced on or after this UTC day",
    )
    start.add_argument(
        "--from-beginning",
        action="store_true",
        help="replay everything the topics hold (the default)",
    )
    parser.add_argument(
        "--dead-letter",
        action="store_true",
        help="send records that fail validation to oura.dlq again (they already went there once)",
    )
