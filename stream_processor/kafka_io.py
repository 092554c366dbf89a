"""The processor's own Kafka producer (trend events and dead letters) and lag bookkeeping."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from schemas.settings import KafkaSettings
from stream_processor.pipeline import Outgoing


class KafkaPublisher:
    """An idempotent producer with acks=all; `send_all` returns once every message is stored."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._producer = AIOKafkaProducer(
            **settings.client_kwargs(),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=512 * 1024,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_all(self, messages: Sequence[Outgoing]) -> None:
        futures = [
            await self._producer.send(topic, value, key=key, headers=headers or None)
            for topic, key, value, headers in messages
        ]
        await asyncio.gather(*futures)
