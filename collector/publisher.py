"""Publishing collected documents: Avro raw records keyed `<user>/<document key>` and
partitioned by the user part (schemas.keys), through an idempotent producer with acks=all.
`publish` returns only when the broker acknowledged every record, which is what lets the caller
advance a cursor.

A document that cannot become a raw record goes, as received and with the reason, to the
quarantine topic instead (schemas/quarantine.py): it costs only itself, never its window."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from collector.metrics import DOCUMENTS_PUBLISHED, DOCUMENTS_QUARANTINED
from schemas.codec import CodecError
from schemas.data_types import get
from schemas.keys import partition_by_user, quarantine_key, raw_key
from schemas.quarantine import QuarantinedDocument, encode_quarantine, quarantine
from schemas.records import RawRecord, document_key, encode_raw
from schemas.settings import KafkaSettings
from schemas.topics import QUARANTINE, raw_topic

log = logging.getLogger("collector.publisher")

UNENCODABLE: tuple[type[Exception], ...] = (
    CodecError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
)
"""What turning one document into a raw record raises when the document, not the code, is at
fault: a missing or mistyped field, no usable key, a value Avro cannot hold."""


class PublishError(Exception):
    """A record was not acknowledged by the broker (or could not be handed to the producer)."""


@dataclass(frozen=True, slots=True)
class Published:
    records: int
    """Raw records acknowledged."""
    quarantined: tuple[QuarantinedDocument, ...] = ()
    """Documents that went to the quarantine topic instead, acknowledged too."""


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
            "partitioner": partition_by_user,
        }
        options.update(producer_overrides)
        self._producer = AIOKafkaProducer(**settings.client_kwargs(), **options)
        self._quarantine_topic = f"{settings.topic_prefix}{QUARANTINE}"
        self.records_published = 0
        self.records_quarantined = 0

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> RawPublisher:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def publish(
        self,
        user_id: str,
        data_type: str,
        documents: Sequence[dict[str, Any]],
        *,
        fetched_at: datetime,
        endpoint: str,
    ) -> Published:
        """Send every document as one raw record, or as a quarantine record when it cannot be
        one, and wait for all acknowledgements. Raises PublishError if any send failed."""
        get(data_type)  # a clear KeyError for a type that does not exist: the caller's bug
        refused: list[QuarantinedDocument] = []
        records = (
            self._record_of(user_id, data_type, d, fetched_at, endpoint, refused) for d in documents
        )
        await self._send_and_wait(records, label=data_type)
        published = len(documents) - len(refused)
        self._account(user_id, data_type, published, refused)
        return Published(published, tuple(refused))

    async def publish_deletions(
        self, user_id: str, data_type: str, document_keys: Sequence[str]
    ) -> int:
        """Publish a tombstone for each document: the processor removes its row and the raw
        topic's compaction removes every earlier version of it."""
        get(data_type)
        topic = raw_topic(data_type, self._settings.topic_prefix)
        await self._send_and_wait(
            ((topic, None, raw_key(user_id, k)) for k in document_keys), label=data_type
        )
        return len(document_keys)

    async def send_all(self, records: Iterable[tuple[str, bytes | None, bytes]]) -> None:
        """Send encoded (topic, value, key) records and wait for every acknowledgement; a value
        of None is a tombstone."""
        await self._send_and_wait(records, label="send")

    def _record_of(
        self,
        user_id: str,
        data_type: str,
        document: dict[str, Any],
        fetched_at: datetime,
        endpoint: str,
        refused: list[QuarantinedDocument],
    ) -> tuple[str, bytes, bytes]:
        """(topic, value, key) of the raw record of `document`, or of its quarantine record,
        which is then added to `refused`."""
        try:
            value = encode_document(user_id, data_type, document, fetched_at, endpoint)
            key = raw_key(user_id, document_key(data_type, document))
            return raw_topic(data_type, self._settings.topic_prefix), value, key
        except UNENCODABLE as exc:
            held = quarantine(
                user_id=user_id,
                data_type=data_type,
                document=document,
                error=exc,
                fetched_at=fetched_at,
                endpoint=endpoint,
            )
            refused.append(held)
            key = quarantine_key(user_id, data_type, held.document_key)
            return self._quarantine_topic, encode_quarantine(held), key

    async def _send_and_wait(
        self, records: Iterable[tuple[str, bytes | None, bytes]], *, label: str
    ) -> None:
        futures: list[asyncio.Future[Any]] = []
        failure: BaseException | None = None
        try:
            for topic, value, key in records:
                futures.append(await self._producer.send(topic, value, key=key))
        except Exception as exc:  # encoding or enqueueing; still wait for what was sent
            failure = exc
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        failure = failure or next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None:
            raise PublishError(
                f"{label}: publishing failed: {type(failure).__name__}: {failure}"
            ) from failure

    def _account(
        self, user_id: str, data_type: str, published: int, refused: list[QuarantinedDocument]
    ) -> None:
        self.records_published += published
        self.records_quarantined += len(refused)
        DOCUMENTS_PUBLISHED.labels(data_type).inc(published)
        # Both series exist once a type was collected, so the quarantine share is computable.
        DOCUMENTS_QUARANTINED.labels(data_type).inc(len(refused))
        for held in refused:
            log.warning(
                "document quarantined",
                extra={
                    "user_id": user_id,
                    "data_type": data_type,
                    "document_key": held.document_key,
                    "error_class": held.error_class,
                    "reason": held.reason[:300],
                },
            )


def encode_document(
    user_id: str, data_type: str, document: dict[str, Any], fetched_at: datetime, endpoint: str
) -> bytes:
    """The raw record of `document`; raises one of UNENCODABLE when it cannot be one."""
    # The processor keys every document; one it could not key is refused here, at the source.
    document_key(data_type, document)
    return encode_raw(
        RawRecord(
            user_id=user_id,
            data_type=data_type,
            document=document,
            fetched_at=fetched_at,
            endpoint=endpoint,
        )
    )
