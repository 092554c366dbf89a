"""The gateway's one Kafka producer (idempotent, acks=all, partitioned by the user part of the
key like every producer of the platform), started on first use.

Started lazily so that the gateway serves its API while the broker is away: what needs Kafka
(erasure tombstones) fails and is retried, everything else is untouched. `warm_up` starts it in
the background at startup so that the first user does not wait for the connection."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer

from schemas.keys import partition_by_user
from schemas.settings import KafkaSettings

log = logging.getLogger("gateway.producer")


class SharedProducer:
    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> AIOKafkaProducer:
        """The started producer; raises the client's error when the broker cannot be reached
        (the next call tries again)."""
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    **self.settings.client_kwargs(),
                    acks="all",
                    enable_idempotence=True,
                    # Webhook deliveries wait for their ack: nothing to gain by lingering.
                    linger_ms=0,
                    partitioner=partition_by_user,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def warm_up(self) -> None:
        try:
            await self.get()
        except Exception as exc:  # retried on first use; the API does not need Kafka
            log.warning("kafka producer not started", extra={"error": repr(exc)})

    async def stop(self) -> None:
        async with self._lock:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None
