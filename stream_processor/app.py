"""The worker's consumer loop: batches from the raw topics, one transaction each, offsets
committed only after it.

Consumption is an aiokafka consumer in the processor's group, read a batch at a time with
`getmany`, not faust's per-message stream. Measured on this project's 2-core machine with the
benchmark's 60,000 raw records: a faust-streaming 0.15 agent that does nothing but
`take_events(2000)` moves ~12,000 records/s (~84 µs of framework per record: two tasks per
message in `Consumer._drain_messages`, an Event per message, the stream iterator and its
sensors), aiokafka's `getmany` ~129,000/s. The goal of the processor (≥ half the rate of a
PostgreSQL COPY of the same rows, ~17,500 rows/s here) left faust ~30 µs per record for
everything else; robinhood/faust#563 reports the same ten-fold gap.

Guarantees, and how this loop keeps them:
  * At-least-once: a batch's offsets are committed (`commit({tp: last + 1})`) only after its
    PostgreSQL transaction committed. A worker killed at any point leaves the batch
    uncommitted and it is redelivered; upserts make the redelivery harmless.
  * Commits advance in batch order per partition (what faust's `concurrency=1` guaranteed): a
    batch's offsets are committed only after it and every batch before it committed. Batch N+1
    is fetched and decoded while batch N's transaction runs, and at most two transactions
    overlap (stream_processor.writer, shared with the replay).
  * Single owner per user: every raw topic has RAW_PARTITIONS partitions keyed by user id, and
    the range assignor gives a member the same partition numbers of every topic it subscribes
    to, so all of a user's records (every type) are processed by one worker. Trend
    recomputation also takes a per-user advisory lock, which keeps this true during a
    rebalance or next to a replay.
  * Rebalance: before partitions are taken away, the batches being written are given
    `rebalance_wait_s` to commit (and their offsets are committed), so the next owner starts
    after them. A batch fetched before the rebalance and not yet written is dropped unwritten:
    its records are fetched again from the committed offsets by whoever owns them now.
  * Stop (SIGTERM): fetching stops, the batches being written are given `stop_wait_s` to
    commit, then the consumer leaves the group. A batch that did not commit is not acknowledged
    and is redelivered after the restart."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from schemas.data_types import DATA_TYPES
from schemas.settings import KafkaSettings
from schemas.topics import raw_topic
from stream_processor import metrics
from stream_processor.pipeline import (
    BatchProcessor,
    BatchResult,
    Incoming,
    Prepared,
    last_offsets,
)
from stream_processor.settings import ProcessorSettings
from stream_processor.writer import OrderedWriter

log = logging.getLogger(__name__)


def raw_topics(settings: ProcessorSettings, kafka: KafkaSettings) -> list[str]:
    types = settings.data_types or [t.name for t in DATA_TYPES]
    return [raw_topic(t, kafka.topic_prefix) for t in types]


def group_consumer(settings: ProcessorSettings, kafka: KafkaSettings) -> AIOKafkaConsumer:
    session_ms = int(settings.session_timeout_s * 1000)
    return AIOKafkaConsumer(
        **kafka.client_kwargs(),
        group_id=settings.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        partition_assignment_strategy=(RangePartitionAssignor,),
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=max(1000, session_ms // 3),
        max_poll_records=settings.batch_size,
        # What is prefetched ahead of the loop bounds the memory: a heart-rate day is ~28 KB,
        # so 1 MiB per partition is ~36 of them per round trip. On the benchmark, 512 KiB gave
        # smaller batches of the heavy types at the end and ~10 % fewer records/s.
        max_partition_fetch_bytes=settings.fetch_partition_bytes,
        fetch_max_bytes=settings.fetch_max_bytes,
    )


class RawConsumer:
    """Feeds the batch processor from the group's partitions and commits behind it."""

    def __init__(
        self,
        settings: ProcessorSettings,
        kafka: KafkaSettings,
        processor: BatchProcessor,
        consumer: AIOKafkaConsumer | None = None,
    ) -> None:
        self.settings = settings
        self.topics = raw_topics(settings, kafka)
        self.consumer = consumer or group_consumer(settings, kafka)
        self.processed: dict[tuple[str, int], int] = {}
        self._processor = processor
        self._writer = OrderedWriter(processor)
        self._generation = 0

    async def start(self) -> None:
        self.consumer.subscribe(self.topics, listener=_Rebalance(self))
        await self.consumer.start()

    async def stop(self) -> None:
        try:
            await self._writer.settle(self.settings.stop_wait_s)
        finally:
            await self.consumer.stop()

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch, decode, write and commit until `stop` is set."""
        within_ms = int(self.settings.batch_within_s * 1000)
        size = self.settings.batch_size
        while not stop.is_set():
            fetched = await self.consumer.getmany(timeout_ms=within_ms, max_records=size)
            # Read right after getmany, with no await in between: what it returned belongs to
            # the assignment of this generation (a batch of the assignment before a rebalance
            # is dropped below; the new assignment starts again from the committed offsets,
            # so it is read again). Read before getmany, a batch fetched by the new assignment
            # would be dropped too, and then lost: its positions have moved past it.
            generation = self._generation
            batch = [
                Incoming(tp.topic, tp.partition, m.offset, m.key, m.value or b"", m.timestamp)
                for tp, messages in fetched.items()
                for m in messages
            ]
            if not batch:
                continue
            prepared = await self._processor.prepare(batch)
            await self._writer.make_room()
            if generation != self._generation:
                log.info("batch read before a rebalance dropped", extra={"size": len(batch)})
                continue
            self._writer.start(prepared, functools.partial(self._committed, generation))

    async def _committed(self, generation: int, prepared: Prepared, _: BatchResult) -> None:
        """The batch and every one before it committed: acknowledge its offsets."""
        offsets = last_offsets(prepared.batch)
        if generation == self._generation:
            await self._commit(offsets)
        self.processed.update(offsets)

    async def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        try:
            await self.consumer.commit(
                {
                    TopicPartition(t, p): OffsetAndMetadata(o + 1, "")
                    for (t, p), o in offsets.items()
                }
            )
        except KafkaError as exc:
            # The group moved on (a rebalance): the next owner reads these records again, which
            # the upserts make harmless.
            log.warning(
                "offsets not committed; the records will be redelivered",
                extra={"error": f"{type(exc).__name__}: {exc}"},
            )

    async def on_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        if revoked:
            metrics.REBALANCES.inc()
        await self._writer.settle(self.settings.rebalance_wait_s)
        self._generation += 1
        for tp in revoked:
            self.processed.pop((tp.topic, tp.partition), None)
            with contextlib.suppress(KeyError):
                metrics.CONSUMER_LAG.remove(tp.topic, str(tp.partition))

    def report_lag(self) -> None:
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            done = self.processed.get((tp.topic, tp.partition))
            if highwater is None or done is None:
                continue
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(
                max(highwater - (done + 1), 0)
            )


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: RawConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        await self._owner.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        log.info(
            "partitions assigned",
            extra={"partitions": len(assigned), "topics": len({tp.topic for tp in assigned})},
        )
