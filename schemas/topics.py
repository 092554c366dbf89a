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

RAW_PARTITIONS = 6
"""Upper bound for processor replicas (one owner per partition)."""

_KEEP_FOREVER = {"retention.ms": "-1", "cleanup.policy": "delete"}


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
            dict(_KEEP_FOREVER),
            f"every collected Oura {t.name} document; the replayable source of truth",
        )
        for t in DATA_TYPES
    ]
    return [
        *raw,
        TopicSpec(
            f"{prefix}{TRENDS}",
            RAW_PARTITIONS,
            {"retention.ms": str(400 * 24 * 3600 * 1000), "cleanup.policy": "delete"},
            "derived daily trends; rebuilt by replay",
        ),
        # Bad input is kept until someone has looked at it: nothing is ever silently dropped.
        TopicSpec(
            f"{prefix}{DLQ}", 3, dict(_KEEP_FOREVER), "records that failed decoding or validation"
        ),
        TopicSpec(
            f"{prefix}{QUARANTINE}",
            3,
            dict(_KEEP_FOREVER),
            "documents the collector fetched but could not encode, as received, with the reason",
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
