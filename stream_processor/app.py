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
    batch's offsets are committed only after the batch before it finished. Batch N+1 is fetched
    and decoded while batch N's transaction runs, and at most two transactions overlap: batch
    N+1 starts its upserts once batch N has finished its own and holds its users' trend locks,
    so PostgreSQL writes N+1's documents while the event loop computes N's trends. A user's
    trends are still computed and published in batch order (N+1 waits for those locks), and
    row conflicts only ever make N+1 wait for N, never the reverse: no deadlock.
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
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from schemas.data_types import DATA_TYPES
from schemas.settings import KafkaSettings
from schemas.topics import raw_topic
from stream_processor import metrics
from stream_processor.pipeline import BatchProcessor, Incoming, Prepared, last_offsets
from stream_processor.settings import ProcessorSettings

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


@dataclass(slots=True)
class _Writing:
    """A batch whose transaction runs in `task`; `generation` is the assignment it was read in;
    `documents_written` is set once its upserts are done and its users' trend locks taken."""

    task: asyncio.Task[None]
    prepared: Prepared
    generation: int
    documents_written: asyncio.Event


_IN_FLIGHT = 2
"""Batches written at once: one upserting its documents while the one before it computes and
publishes its trends (PostgreSQL and the event loop each do one half at a time)."""


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
        self._writing: list[_Writing] = []
        self._generation = 0

    async def start(self) -> None:
        self.consumer.subscribe(self.topics, listener=_Rebalance(self))
        await self.consumer.start()

    async def stop(self) -> None:
        try:
            await self._settle(self.settings.stop_wait_s)
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
            await self._make_room()
            if generation != self._generation:
                log.info("batch read before a rebalance dropped", extra={"size": len(batch)})
                continue
            previous = self._writing[-1].task if self._writing else None
            written = asyncio.Event()
            task = asyncio.create_task(self._write(prepared, generation, written, previous))
            self._writing.append(_Writing(task, prepared, generation, written))

    async def _make_room(self) -> None:
        """Wait until a new batch may start writing: fewer than _IN_FLIGHT batches in flight,
        and the newest one past its upserts. A write that failed (a bug: database and broker
        errors are retried inside) stops the worker, so nothing after it is ever committed."""
        while self._writing:
            oldest = self._writing[0]
            if oldest.task.done():
                self._writing.pop(0)
                if not oldest.task.cancelled() and oldest.task.exception() is not None:
                    raise oldest.task.exception()  # type: ignore[misc]
                continue
            if len(self._writing) >= _IN_FLIGHT:
                await asyncio.wait([oldest.task])
                continue
            newest = self._writing[-1]
            waiter = asyncio.ensure_future(newest.documents_written.wait())
            try:
                await asyncio.wait([waiter, newest.task], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            return

    async def _write(
        self,
        prepared: Prepared,
        generation: int,
        written: asyncio.Event,
        previous: asyncio.Task[None] | None,
    ) -> None:
        await self._processor.write(prepared, written)
        if previous is not None:
            # Offsets are committed in batch order: this batch's may pass the previous one's.
            await asyncio.wait([previous])
            if previous.cancelled() or previous.exception() is not None:
                return
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

    async def _settle(self, wait_s: float) -> None:
        """Give the batches being written `wait_s` seconds to commit; cancel those that did not
        (their offsets stay uncommitted, so they are redelivered)."""
        writing, self._writing = self._writing, []
        tasks = [w.task for w in writing if not w.task.done()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=wait_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            log.warning(
                "batches not committed in time: they will be redelivered",
                extra={"batches": len(pending)},
            )

    async def on_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        if revoked:
            metrics.REBALANCES.inc()
        await self._settle(self.settings.rebalance_wait_s)
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
