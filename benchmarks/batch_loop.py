"""The reference the Faust worker is measured against: a plain aiokafka group consumer running
the same batch code (`BatchProcessor` through the `OrderedWriter`), as the processor was before
it became a Faust app again.

    python benchmarks/batch_loop.py      # reads the same KAFKA_*, DB_*, PROCESSOR_* settings

Batches come from `getmany`; a batch's offsets are committed after its transaction and every
one before it committed. No rebalance handling beyond dropping batches of an old generation:
it is a yardstick for one worker, not a product."""

from __future__ import annotations

import asyncio
import functools
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.structs import OffsetAndMetadata

from schemas.settings import DatabaseSettings, KafkaSettings
from stream_processor.app import raw_topic_names
from stream_processor.kafka_io import KafkaPublisher
from stream_processor.pipeline import (
    BatchProcessor,
    BatchResult,
    Incoming,
    Prepared,
    last_offsets,
)
from stream_processor.settings import ProcessorSettings
from stream_processor.storage.pool import open_pool
from stream_processor.writer import OrderedWriter


class _Generation(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, writer: OrderedWriter, wait_s: float) -> None:
        self.value = 0
        self._writer, self._wait_s = writer, wait_s

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        await self._writer.settle(self._wait_s)
        self.value += 1

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        pass


async def run(settings: ProcessorSettings, kafka: KafkaSettings, db: DatabaseSettings) -> None:
    pool = await open_pool(db)
    publisher = KafkaPublisher(kafka)
    await publisher.start()
    processor = BatchProcessor(pool, publisher, topic_prefix=kafka.topic_prefix)
    writer = OrderedWriter(processor)
    generation = _Generation(writer, settings.rebalance_wait_s)
    consumer = AIOKafkaConsumer(
        **kafka.client_kwargs(),
        group_id=settings.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        partition_assignment_strategy=(RangePartitionAssignor,),
        max_poll_records=settings.batch_size,
        max_partition_fetch_bytes=settings.fetch_partition_bytes,
    )
    consumer.subscribe(raw_topic_names(settings, kafka), listener=generation)
    await consumer.start()

    async def committed(current: int, prepared: Prepared, _: BatchResult) -> None:
        if current == generation.value:
            offsets = last_offsets(prepared.batch)
            await consumer.commit(
                {
                    TopicPartition(t, p): OffsetAndMetadata(o + 1, "")
                    for (t, p), o in offsets.items()
                }
            )

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        while not stop.is_set():
            fetched = await consumer.getmany(timeout_ms=500, max_records=settings.batch_size)
            current = generation.value
            batch = [
                Incoming(tp.topic, tp.partition, m.offset, m.key, m.value, m.timestamp)
                for tp, messages in fetched.items()
                for m in messages
            ]
            if not batch:
                continue
            prepared = await processor.prepare(batch)
            await writer.make_room()
            if current == generation.value:
                writer.start(prepared, functools.partial(committed, current))
        await writer.settle(settings.stop_wait_s)
    finally:
        await consumer.stop()
        await publisher.stop()
        await pool.close()


if __name__ == "__main__":
    asyncio.run(run(ProcessorSettings(), KafkaSettings(), DatabaseSettings()))
