"""`python -m collector webhooks`: the webhook fetcher. A long-running consumer of
`oura.webhook.events` (group COLLECTOR_WEBHOOK_GROUP_ID) that turns each announced document into
a raw record like any other, and each `delete` into a tombstone on the raw topic.

Events that arrive within COLLECTOR_WEBHOOK_BATCH_WINDOW_MS of each other are handled together:
per (user, data type), each announced document is fetched once however often it was announced
(`GET /v2/usercollection/<route>/{object_id}`, through the client's shared request budget and
the users' token lifecycle). Offsets are committed only after the broker acknowledged every
record the batch produced (at-least-once; the processor dedupes by content hash, so a repeat
costs a fetch, never a second row).

What one event cannot be does not hold back the others: a document gone by the time it is
fetched (404), a type the platform does not collect, a type not granted or a connection that
needs reauthorisation are counted and skipped. A batch that fails for a reason worth retrying
(Oura unreachable, the broker or the database away) is retried from its first offset, up to
COLLECTOR_MAX_ATTEMPTS times; then it is skipped, counted as failed and logged, and the next
scheduled run (whose overlap window covers it) fills the gap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord

from collector.collect import Collector
from collector.metrics import WEBHOOK_EVENTS, WEBHOOK_LATENCY
from collector.oura import DocumentNotFound, NotGranted, OuraFetchError, Unauthorized, data_path
from collector.publisher import PublishError
from collector.webhooks.announcements import record_announced
from collector.webhooks.identity import fill_missing_oura_user_ids
from oura_connection import NeedsReauth, NotConnected, OAuthError, TokenCipherError
from schemas.codec import CodecError
from schemas.data_types import BY_NAME, DataType
from schemas.settings import KafkaSettings
from schemas.topics import WEBHOOK_EVENTS as WEBHOOK_TOPIC
from schemas.webhooks import WebhookEvent, decode_webhook_event

log = logging.getLogger("collector.webhooks")

_BY_ROUTE = {t.path: t for t in BY_NAME.values()}
TRANSIENT: tuple[type[BaseException], ...] = (
    OuraFetchError,
    PublishError,
    OAuthError,
    TokenCipherError,
    asyncpg.PostgresError,
    OSError,
)
"""What makes a batch worth retrying: Oura, the broker or the database not answering."""


def collected_type(name: str) -> DataType | None:
    """The platform data type an event names: by Oura's data type name, or by its route
    spelling (`vO2_max`); None for a type the platform does not collect."""
    return BY_NAME.get(name) or _BY_ROUTE.get(name)


@dataclass
class _Group:
    """The announcements of one (user, data type) within a batch."""

    fetch: dict[str, WebhookEvent] = field(default_factory=dict)
    delete: dict[str, WebhookEvent] = field(default_factory=dict)


def group_events(events: list[WebhookEvent]) -> dict[tuple[str, DataType], _Group]:
    """Per (user, data type), the newest announcement of each object: a delete after a create
    makes a tombstone, a create after a delete a fetch; repeats collapse (counted)."""
    groups: dict[tuple[str, DataType], _Group] = defaultdict(_Group)
    for event in events:
        data_type = collected_type(event.data_type)
        if data_type is None:
            WEBHOOK_EVENTS.labels(event.event_type, "unknown_data_type").inc()
            log.info(
                "webhook event for a type not collected",
                extra={"data_type": event.data_type, "delivery_id": event.delivery_id},
            )
            continue
        group = groups[(event.user_id, data_type)]
        if event.object_id in group.fetch or event.object_id in group.delete:
            WEBHOOK_EVENTS.labels(event.event_type, "duplicate").inc()
        group.fetch.pop(event.object_id, None)
        group.delete.pop(event.object_id, None)
        target = group.delete if event.event_type == "delete" else group.fetch
        target[event.object_id] = event
    return groups


class WebhookFetcher:
    def __init__(self, collector: Collector, kafka: KafkaSettings) -> None:
        self.collector = collector
        self.kafka = kafka
        self.settings = collector.settings
        self.topic = f"{kafka.topic_prefix}{WEBHOOK_TOPIC}"
        self._bound = asyncio.Semaphore(self.settings.user_concurrency)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is finished first."""
        try:
            await fill_missing_oura_user_ids(self.collector)
        except TRANSIENT as exc:
            log.warning("oura user ids not filled", extra={"error": type(exc).__name__})
        consumer = AIOKafkaConsumer(
            self.topic,
            **self.kafka.client_kwargs(),
            group_id=self.settings.webhook_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        log.info("webhook fetcher started", extra={"topic": self.topic})
        try:
            failures = 0
            while not stop.is_set():
                records = await self._next_batch(consumer, stop)
                if not records:
                    continue
                if await self.handle(records):
                    failures = 0
                elif (failures := failures + 1) < self.settings.max_attempts:
                    _rewind(consumer, records)
                    await asyncio.sleep(self._backoff(failures))
                    continue
                else:
                    failures = 0
                    self._give_up(records)
                await _commit(consumer, records)
        finally:
            await consumer.stop()

    def _backoff(self, failures: int) -> float:
        settings = self.settings
        return float(min(settings.backoff_cap_s, settings.backoff_base_s * 2.0**failures))

    async def _next_batch(
        self, consumer: AIOKafkaConsumer, stop: asyncio.Event
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """Records of up to COLLECTOR_WEBHOOK_BATCH_WINDOW_MS after the first one arrives."""
        limit = self.settings.webhook_batch_max
        batch = await consumer.getmany(timeout_ms=500, max_records=limit)
        records = [r for part in batch.values() for r in part]
        if not records:
            return []
        deadline = time.monotonic() + self.settings.webhook_batch_window_ms / 1000
        while len(records) < limit and not stop.is_set():
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            more = await consumer.getmany(timeout_ms=left_ms, max_records=limit - len(records))
            records.extend(r for part in more.values() for r in part)
        return records

    async def handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        """Fetch and publish what the records announce; False when the batch is worth
        retrying (nothing is lost by a retry: the processor dedupes)."""
        events: list[WebhookEvent] = []
        for record in records:
            try:
                events.append(decode_webhook_event(record.value or b""))
            except CodecError as exc:
                WEBHOOK_EVENTS.labels("unknown", "undecodable").inc()
                log.error(
                    "webhook event does not decode; skipped",
                    extra={
                        "topic": record.topic,
                        "partition": record.partition,
                        "offset": record.offset,
                        "error": str(exc)[:300],
                    },
                )
        groups = group_events(events)
        results = await asyncio.gather(
            *(self._handle_group(user, data_type, g) for (user, data_type), g in groups.items()),
            return_exceptions=True,
        )
        failures: list[BaseException] = []
        announced: list[tuple[UUID, str, str]] = []
        for result in results:
            if isinstance(result, BaseException):
                failures.append(result)
            else:
                announced += result
        try:
            # One round trip for the whole batch: what each published group announced.
            await record_announced(self.collector.pool, announced)
        except TRANSIENT as exc:
            failures.append(exc)
        for failure in failures:
            if not isinstance(failure, TRANSIENT):
                raise failure
            log.warning(
                "webhook batch failed; retrying",
                extra={"error": f"{type(failure).__name__}: {str(failure)[:300]}"},
            )
        return not failures

    async def _handle_group(
        self, user: str, data_type: DataType, group: _Group
    ) -> list[tuple[UUID, str, str]]:
        """Fetch and publish one user's announced documents of one type; what was announced,
        once published (nothing when the user's connection cannot fetch)."""
        async with self._bound:
            user_id = UUID(user)
            tokens = self.collector.tokens_for(user_id)
            fetched_at = datetime.now(UTC)
            try:
                found = await asyncio.gather(
                    *(self._fetch(tokens, data_type, e) for e in group.fetch.values())
                )
            except NotGranted:
                self._count(group, "not_granted")
                return []
            except (NeedsReauth, NotConnected, Unauthorized):
                self._count(group, "not_connected")
                return []
            documents = [d for d in found if d is not None]
            publisher = self.collector.publisher
            await publisher.publish(
                user,
                data_type.name,
                documents,
                fetched_at=fetched_at,
                endpoint=data_path(data_type),
            )
            if group.delete:
                await publisher.publish_deletions(user, data_type.name, list(group.delete))
            now = time.time()
            for outcome, events in (
                ("fetched", [e for e, d in zip(group.fetch.values(), found, strict=True) if d]),
                ("deleted", list(group.delete.values())),
            ):
                for event in events:
                    WEBHOOK_EVENTS.labels(event.event_type, outcome).inc()
                    WEBHOOK_LATENCY.observe(max(0.0, now - event.received_at.timestamp()))
            return [(user_id, data_type.name, o) for o in [*group.fetch, *group.delete]]

    async def _fetch(
        self, tokens: Any, data_type: DataType, event: WebhookEvent
    ) -> dict[str, Any] | None:
        try:
            return await self.collector.client.fetch_document(tokens, data_type, event.object_id)
        except DocumentNotFound:
            WEBHOOK_EVENTS.labels(event.event_type, "not_found").inc()
            log.warning(
                "announced document not found",
                extra={
                    "data_type": data_type.name,
                    "object_id": event.object_id,
                    "delivery_id": event.delivery_id,
                },
            )
            return None

    def _count(self, group: _Group, outcome: str) -> None:
        for event in [*group.fetch.values(), *group.delete.values()]:
            WEBHOOK_EVENTS.labels(event.event_type, outcome).inc()

    def _give_up(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        WEBHOOK_EVENTS.labels("unknown", "failed").inc(len(records))
        log.error(
            "webhook batch given up after retries; the next scheduled run fills the gap",
            extra={"events": len(records), "attempts": self.settings.max_attempts},
        )


def _next_offsets(records: list[ConsumerRecord[bytes, bytes]]) -> dict[TopicPartition, int]:
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets


def _rewind(consumer: AIOKafkaConsumer, records: list[ConsumerRecord[bytes, bytes]]) -> None:
    first: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        first[tp] = min(first.get(tp, record.offset), record.offset)
    for tp, offset in first.items():
        # Revoked meanwhile: its new owner starts from the last commit.
        with contextlib.suppress(IllegalStateError, AssertionError):
            consumer.seek(tp, offset)


async def _commit(consumer: AIOKafkaConsumer, records: list[ConsumerRecord[bytes, bytes]]) -> None:
    try:
        await consumer.commit(_next_offsets(records))
    except KafkaError as exc:
        # A rebalance took partitions away (CommitFailedError): their new owner handles the
        # events again, which costs fetches, never rows.
        log.warning("webhook offsets not committed", extra={"error": type(exc).__name__})
