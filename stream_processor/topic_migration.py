"""`python -m stream_processor migrate-topics`: today's user-keyed, delete-policy topics rewritten
into the compacted, record-keyed layout (schemas.keys, schemas.topics), for an installation that
ran before it.

Kafka can neither rename a topic nor change its records' keys, and compacting a topic keyed by
user alone would keep one record per user. So, per topic of the registry that is not compacted
yet:

1. copy every record, partition by partition, to `<topic>.pre-compaction` (the backup);
2. delete the topic and create it again from the registry (compacted);
3. produce every backed-up record again under its new key (decoded from the value: the raw
   record's user and document key, the trend's user, metric and day, the dead letter's source
   position), same value, headers and timestamp, partitioned by the user part; record counts
   are checked after each step;
4. delete the backup (kept with `--keep-backup`).

A run that stopped half way is resumed by running it again: a topic whose backup exists goes on
from step 2. The user part hashes to the partition the old user key did, so every user's
records stay on their partition, in their order.

Stop the workers and the collector first: the command refuses to run while the processor's
consumer group has members. It then resets that group's offsets on the rewritten raw topics to
the beginning, so the workers read the new topics whole; writes are idempotent, so this only
costs time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import ConsumerRecord

from schemas.codec import CodecError
from schemas.keys import (
    UNKNOWN_USER,
    dead_letter_key,
    partition_by_user,
    quarantine_key,
    raw_key,
    trend_key,
    user_of,
)
from schemas.quarantine import decode_quarantine
from schemas.records import decode_raw, decode_trend, document_key
from schemas.settings import KafkaSettings
from schemas.topics import DLQ, QUARANTINE, RAW_PREFIX, TRENDS, TopicSpec, ensure_topics, registry

log = logging.getLogger(__name__)

BACKUP_SUFFIX = ".pre-compaction"


class MigrationError(Exception):
    """The migration cannot go on; the message says why and what to do."""


@dataclass(slots=True)
class TopicReport:
    topic: str
    outcome: str = "already compacted"
    records: int = 0
    legacy_keys: int = 0
    """Records whose value could not be decoded: kept under `<user>/legacy/<partition>/<offset>`."""


@dataclass(slots=True)
class MigrationReport:
    topics: list[TopicReport] = field(default_factory=list)


Rekey = Callable[[ConsumerRecord[bytes, bytes]], bytes]
Sent = asyncio.Future[Any]


def _legacy(record: ConsumerRecord[bytes, bytes]) -> bytes:
    user = user_of(record.key) or UNKNOWN_USER
    return f"{user}/legacy/{record.partition}/{record.offset}".encode()


def _raw(record: ConsumerRecord[bytes, bytes]) -> bytes:
    decoded = decode_raw(record.value or b"")
    return raw_key(decoded.user_id, document_key(decoded.data_type, decoded.document))


def _trend(record: ConsumerRecord[bytes, bytes]) -> bytes:
    trend = decode_trend(record.value or b"")
    return trend_key(str(trend["user_id"]), str(trend["metric"]), str(trend["day"]))


def _dead_letter(record: ConsumerRecord[bytes, bytes]) -> bytes:
    headers = {name: value.decode() for name, value in record.headers}
    return dead_letter_key(
        user_of(record.key) or UNKNOWN_USER,
        headers["source.topic"],
        int(headers["source.partition"]),
        int(headers["source.offset"]),
    )


def _quarantined(record: ConsumerRecord[bytes, bytes]) -> bytes:
    held = decode_quarantine(record.value or b"")
    return quarantine_key(held.user_id, held.data_type, held.document_key)


def rekey_for(spec: TopicSpec, prefix: str) -> Rekey:
    name = spec.name[len(prefix) :]
    if name == TRENDS:
        return _trend
    if name == DLQ:
        return _dead_letter
    if name == QUARANTINE:
        return _quarantined
    if name.startswith(RAW_PREFIX):
        return _raw
    raise MigrationError(f"no key layout for {spec.name}")


async def migrate_topics(
    settings: KafkaSettings, group_id: str, *, keep_backup: bool = False
) -> MigrationReport:
    report = MigrationReport()
    prefix = settings.topic_prefix
    specs = [s for s in registry(prefix) if s.config.get("cleanup.policy") == "compact"]
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        await _refuse_active_group(admin, group_id)
        existing = set(await admin.list_topics())
        for spec in specs:
            topic = TopicReport(spec.name)
            report.topics.append(topic)
            backup = spec.name + BACKUP_SUFFIX
            if backup not in existing:
                if spec.name not in existing or await _is_compacted(admin, spec.name):
                    topic.outcome = "already compacted" if spec.name in existing else "absent"
                    continue
                await _copy(settings, admin, spec, backup)
                await _recreate(settings, admin, spec)
            elif spec.name in existing and not await _is_compacted(admin, spec.name):
                await _recreate(settings, admin, spec)  # stopped between steps 1 and 2
            topic.records, topic.legacy_keys = await _rekey(
                settings, backup, spec, rekey_for(spec, prefix)
            )
            if not keep_backup:
                await admin.delete_topics([backup])
            topic.outcome = "migrated"
            log.info(
                "topic migrated",
                extra={"topic": spec.name, "records": topic.records, "legacy": topic.legacy_keys},
            )
        count = {s.name: s.partitions for s in specs}
        raw = {
            t.topic: count[t.topic]
            for t in report.topics
            if t.outcome == "migrated" and RAW_PREFIX in t.topic
        }
        if raw:
            await _reset_group(settings, group_id, raw)
    finally:
        await admin.close()
    return report


async def _refuse_active_group(admin: AIOKafkaAdminClient, group_id: str) -> None:
    described = await admin.describe_consumer_groups([group_id])
    for response in described:
        for group in response.groups:
            state, members = group[2], group[5]
            if members:
                raise MigrationError(
                    f"consumer group {group_id!r} has {len(members)} member(s) (state {state}): "
                    "stop the stream processor workers first"
                )


async def _is_compacted(admin: AIOKafkaAdminClient, topic: str) -> bool:
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    for response in responses:
        for resource in response.resources:
            for entry in resource[4]:
                if entry[0] == "cleanup.policy":
                    return "compact" in str(entry[1])
    return False


async def _copy(
    settings: KafkaSettings, admin: AIOKafkaAdminClient, spec: TopicSpec, backup: str
) -> None:
    await ensure_topics(
        settings,
        [TopicSpec(backup, spec.partitions, {"cleanup.policy": "delete", "retention.ms": "-1"})],
    )
    await _until(admin, backup, present=True, partitions=spec.partitions)
    copied = 0

    async def send(record: ConsumerRecord[bytes, bytes], producer: AIOKafkaProducer) -> Sent:
        nonlocal copied
        copied += 1
        future: Sent = await producer.send(
            backup,
            record.value,
            key=record.key,
            partition=record.partition,
            timestamp_ms=record.timestamp,
            headers=list(record.headers) or None,
        )
        return future

    total = await _each_record(settings, spec.name, spec.partitions, send)
    if copied != total:
        raise MigrationError(f"{spec.name}: copied {copied} of {total} records; run again")


async def _recreate(settings: KafkaSettings, admin: AIOKafkaAdminClient, spec: TopicSpec) -> None:
    if spec.name in set(await admin.list_topics()):
        await admin.delete_topics([spec.name])
    # Deletion and creation complete asynchronously on the brokers: wait for each.
    await _until(admin, spec.name, present=False)
    await ensure_topics(settings, [spec])
    await _until(admin, spec.name, present=True, partitions=spec.partitions)


async def _until(
    admin: AIOKafkaAdminClient, topic: str, *, present: bool, partitions: int = 0
) -> None:
    for _ in range(240):
        (described,) = await admin.describe_topics([topic])
        found = described["error_code"] == 0
        led = [p for p in described.get("partitions", []) if p.get("leader", -1) >= 0]
        if (not present and not found) or (present and found and len(led) == partitions):
            return
        await asyncio.sleep(0.25)
    state = "created" if present else "deleted"
    raise MigrationError(f"{topic} was not {state} within a minute; run again")


async def _rekey(
    settings: KafkaSettings, backup: str, spec: TopicSpec, rekey: Rekey
) -> tuple[int, int]:
    sent = legacy = 0

    async def send(record: ConsumerRecord[bytes, bytes], producer: AIOKafkaProducer) -> Sent:
        nonlocal sent, legacy
        try:
            key = rekey(record)
        except (CodecError, KeyError, ValueError, TypeError):
            key, legacy = _legacy(record), legacy + 1
        sent += 1
        future: Sent = await producer.send(
            spec.name,
            record.value,
            key=key,
            timestamp_ms=record.timestamp,
            headers=list(record.headers) or None,
        )
        return future

    total = await _each_record(settings, backup, spec.partitions, send)
    if sent != total:
        raise MigrationError(f"{spec.name}: produced {sent} of {total} records; run again")
    return sent, legacy


async def _each_record(
    settings: KafkaSettings,
    topic: str,
    count: int,
    handle: Callable[[ConsumerRecord[bytes, bytes], AIOKafkaProducer], Awaitable[Sent]],
) -> int:
    """Feed every record of `topic`, up to the end offsets seen at start, to `handle` with an
    idempotent acks=all producer; returns the number of records read once every send `handle`
    made is acknowledged (raises if one failed)."""
    consumer = AIOKafkaConsumer(**settings.client_kwargs(), group_id=None, enable_auto_commit=False)
    producer = AIOKafkaProducer(
        **settings.client_kwargs(),
        acks="all",
        enable_idempotence=True,
        partitioner=partition_by_user,
        linger_ms=20,
        max_request_size=8 * 1024 * 1024,
    )
    await consumer.start()
    await producer.start()
    read = 0
    sent: list[Sent] = []
    try:
        partitions = [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=5000)
            for tp, records in fetched.items():
                for record in records:
                    if record.offset < ends[tp]:
                        sent.append(await handle(record, producer))
                        read += 1
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
        await consumer.stop()
    return read


async def _reset_group(settings: KafkaSettings, group_id: str, topics: dict[str, int]) -> None:
    """Commit offset 0 on every partition of the rewritten raw topics for the workers' group."""
    consumer = AIOKafkaConsumer(
        **settings.client_kwargs(), group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t, count in topics.items() for p in range(count)]
        consumer.assign(partitions)
        await consumer.commit(dict.fromkeys(partitions, 0))
    finally:
        await consumer.stop()
