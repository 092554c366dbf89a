"""Publishing collected documents: Avro raw records, keyed by user id, through an idempotent
producer with acks=all. `publish` returns only when the broker acknowledged every record, which is
what lets the caller advance a cursor."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner, murmur2

from collector.metrics import DOCUMENTS_PUBLISHED
from schemas.records import RawRecord, encode_raw
from schemas.settings import KafkaSettings
from schemas.topics import raw_topic


@lru_cache(maxsize=65_536)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def partition_for_key(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's default partitioner (Java-compatible murmur2 of the key) with the hash
    memoised: every record of a user carries the same key, and murmur2 is pure Python."""
    if key is None:
        return int(DefaultPartitioner()(key, all_partitions, available))
    return all_partitions[_key_hash(key) % len(all_partitions)]


class PublishError(Exception):
    """A record was not acknowledged by the broker (or could not be encoded)."""


class RawPublisher:
    def __init__(self, settings: KafkaSettings, **producer_overrides: Any) -> None:
        self._settings = settings
        options: dict[str, Any] = {
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 20,
            "max_batch_size": 1024 * 1024,
            "max_request_size": 8 * 1024 * 1024,
            "request_timeout_ms": 60_000,
            "partitioner": partition_for_key,
        }
        options.update(producer_overrides)
        self._producer = AIOKafkaProducer(**settings.client_kwargs(), **options)
        self.records_published = 0

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> RawPublisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def publish(
        self,
        user_id: str,
        data_type: str,
        documents: Sequence[dict[str, Any]],
        *,
        fetched_at: datetime,
        endpoint: str,
    ) -> int:
        """Send every document as one raw record and wait for all acknowledgements."""
        if not documents:
            return 0
        topic = raw_topic(data_type, self._settings.topic_prefix)
        key = user_id.encode()
        futures: list[asyncio.Future[Any]] = []
        failure: BaseException | None = None
        try:
            for document in documents:
                value = encode_raw(
                    RawRecord(
                        user_id=user_id,
                        data_type=data_type,
                        document=document,
                        fetched_at=fetched_at,
                        endpoint=endpoint,
                    )
                )
                futures.append(await self._producer.send(topic, value, key=key))
        except Exception as exc:  # encoding or enqueueing; still wait for what was sent
            failure = exc
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        failure = failure or next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None:
            raise PublishError(
                f"{data_type}: publishing failed: {type(failure).__name__}: {failure}"
            ) from failure
        self.records_published += len(documents)
        DOCUMENTS_PUBLISHED.labels(data_type).inc(len(documents))
        return len(documents)
