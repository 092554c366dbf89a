"""The one registry of Kafka topics: names, partition counts and configs.

Topics are created explicitly (brokers run with auto-creation off, as on MSK)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from schemas.data_types import DATA_TYPES
from schemas.settings import KafkaSettings

RAW_PREFIX = "oura.raw."
TRENDS = "oura.trends.daily"
DLQ = "oura.dlq"
QUARANTINE = "oura.raw.quarantine"
"""Not a data type: documents the collector could not encode. Under `oura.raw.` so that the
collector's produce permission covers it; pattern subscribers to `oura.raw.*` must skip it."""
WEBHOOK_EVENTS = "oura.webhook.events"
"""Verified Oura webhook notifications, keyed by platform user (schemas.keys)."""

RAW_PARTITIONS = 6
"""Upper bound for processor replicas (one owner per partition)."""

DAY_MS = 24 * 3600 * 1000
ERASURE_DEADLINE_MS = 7 * DAY_MS
"""`max.compaction.lag.ms` of every compacted topic: a record superseded or tombstoned is
removed by compaction within this long. This is the erasure deadline the README states."""
TOMBSTONE_RETENTION_MS = DAY_MS
"""`delete.retention.ms`: how long a tombstone (a key, no data) stays readable, so that a
consumer that is behind by less than this still sees the deletion."""
WEBHOOK_EVENTS_RETENTION_MS = 3 * DAY_MS
"""Webhook events are notifications, not data: kept long enough to ride out a fetcher outage
(Oura itself gives up after about an hour) and gone well within the erasure deadline."""

COMPACTED = {
    "cleanup.policy": "compact",
    "max.compaction.lag.ms": str(ERASURE_DEADLINE_MS),
    "delete.retention.ms": str(TOMBSTONE_RETENTION_MS),
    # Segments roll at least this often, so that no record waits in an active segment (which
    # compaction never touches) past the deadline.
    "segment.ms": str(DAY_MS),
}
"""A changelog keyed by schemas.keys: the newest record of each key is kept forever, earlier ones
and tombstoned keys are removed within ERASURE_DEADLINE_MS."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    purpose: str = ""


def raw_topic(data_type: str, prefix: str = "") -> str:
    return f"{prefix}{RAW_PREFIX}{data_type}"


def data_type_of(topic: str, prefix: str = "") -> str:
    """Inverse of raw_topic; raises ValueError for a topic that is not a raw topic."""
    head = f"{prefix}{RAW_PREFIX}"
    if not topic.startswith(head):
        raise ValueError(f"{topic!r} is not a raw topic")
    return topic[len(head) :]


def registry(prefix: str = "") -> list[TopicSpec]:
    raw = [
        TopicSpec(
            raw_topic(t.name, prefix),
            RAW_PARTITIONS,
            dict(COMPACTED),
            f"every collected Oura {t.name} document, newest version per document key; "
            "the replayable source of truth",
        )
        for t in DATA_TYPES
    ]
    return [
        *raw,
        TopicSpec(
            f"{prefix}{TRENDS}",
            RAW_PARTITIONS,
            dict(COMPACTED),
            "derived daily trends, newest per user, metric and day; rebuilt by replay",
        ),
        # Bad input is kept until someone has looked at it (or its user is erased): every dead
        # letter has a key of its own, so compaction never drops one.
        TopicSpec(
            f"{prefix}{DLQ}", 3, dict(COMPACTED), "records that failed decoding or validation"
        ),
        TopicSpec(
            f"{prefix}{QUARANTINE}",
            3,
            dict(COMPACTED),
            "documents the collector fetched but could not encode, as received, with the reason",
        ),
        TopicSpec(
            f"{prefix}{WEBHOOK_EVENTS}",
            RAW_PARTITIONS,
            {"cleanup.policy": "delete", "retention.ms": str(WEBHOOK_EVENTS_RETENTION_MS)},
            "verified Oura webhook notifications for the collector's webhook fetcher",
        ),
    ]


async def ensure_topics(settings: KafkaSettings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    specs = specs if specs is not None else registry(settings.topic_prefix)
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        s.name,
                        num_partitions=s.partitions,
                        replication_factor=settings.replication_factor,
                        topic_configs=s.config,
                    )
                    for s in missing
                ]
            )
        return [s.name for s in missing]
    finally:
        await admin.close()


async def delete_topics(settings: KafkaSettings, names: list[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def committed_offsets(
    settings: KafkaSettings, group: str, *, attempts: int = 30, backoff_s: float = 0.5
) -> dict[tuple[str, int], int]:
    """A consumer group's committed offsets by (topic, partition).

    Retries what a broker answers while a group coordinator is still being set up (the first
    group on a new broker, a coordinator that moved): a poll must not fail on them."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    attempt = 1
    while True:
        admin = AIOKafkaAdminClient(**settings.client_kwargs())
        try:
            await admin.start()
            offsets = await admin.list_consumer_group_offsets(group)
            return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
        except KafkaError as exc:
            if not exc.retriable or attempt >= attempts:
                raise
        finally:
            await admin.close()
        attempt += 1
        await asyncio.sleep(backoff_s)
