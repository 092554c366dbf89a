"""The processor's own Kafka producer: trend events, dead letters and the tombstones of erased
accounts' late records, each sent to its user's partition and awaited as a batch."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.keys import partition_by_user
from schemas.settings import KafkaSettings
from stream_processor.pipeline import Outgoing

_MAX_REMEMBERED = 100_000


class KafkaPublisher:
    """An idempotent producer with acks=all; `send_all` returns once every message is stored.

    A batch's messages go out as one record batch per partition (`send_batch`) rather than one
    `send` each: a batch of trend events is thousands of messages, and `send` costs a future
    and a pure-Python murmur2 of the key per message. Partitions are the ones `send` would
    choose (the producer's own partitioner), remembered per key, so a user's events keep
    landing on one partition in order."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._producer = AIOKafkaProducer(
            **settings.client_kwargs(),
            acks="all",
            enable_idempotence=True,
            partitioner=partition_by_user,
            linger_ms=5,
            max_batch_size=512 * 1024,
        )
        self._partitions: dict[tuple[str, bytes, int], int] = {}

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_all(self, messages: Sequence[Outgoing]) -> None:
        by_partition: dict[tuple[str, int], list[Outgoing]] = defaultdict(list)
        futures: list[asyncio.Future[Any]] = []
        for message in messages:
            topic, key, value, headers = message
            if key is None:  # no partition to keep: let the producer spread them
                futures.append(await self._producer.send(topic, value, headers=headers or None))
                continue
            partition = await self._partition(topic, key)
            by_partition[(topic, partition)].append(message)
        for (topic, partition), group in by_partition.items():
            futures += await self._send_batches(topic, partition, group)
        await asyncio.gather(*futures)

    async def _partition(self, topic: str, key: bytes) -> int:
        count = len(await self._producer.partitions_for(topic))
        cached = self._partitions.get((topic, key, count))
        if cached is None:
            producer: Any = self._producer
            cached = producer._partition(topic, None, key, None, key, None)
            if len(self._partitions) >= _MAX_REMEMBERED:  # dead letters may carry any key
                self._partitions.clear()
            self._partitions[(topic, key, count)] = cached
        return cached

    async def _send_batches(
        self, topic: str, partition: int, messages: list[Outgoing]
    ) -> list[asyncio.Future[Any]]:
        futures: list[asyncio.Future[Any]] = []
        batch = self._producer.create_batch()
        for _, key, value, headers in messages:
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is not None:
                continue
            if batch.record_count():
                futures.append(await self._producer.send_batch(batch, topic, partition=partition))
                batch = self._producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None, headers=headers):
                    continue
            # Larger than a whole batch on its own: the producer's ordinary path decides.
            futures.append(
                await self._producer.send(
                    topic, value, key=key, partition=partition, headers=headers or None
                )
            )
        if batch.record_count():
            futures.append(await self._producer.send_batch(batch, topic, partition=partition))
        return futures
