"""`python -m collector requeue-quarantine`: quarantined documents back into their raw topics,
once a schema change lets them be encoded.

The quarantine topic is read from the beginning up to the end offsets seen at start. A document
quarantined several times (each run re-fetches a few days) is requeued once, in its newest copy,
with the `fetched_at` of that fetch, so the processor never lets it overwrite a later version.
Documents the schema still refuses stay where they are; the topic itself is never changed, so
a requeue can be repeated (the processor dedupes by content). A tombstone (an erased account)
drops the records of its key read before it: an erasure is never undone by a requeue."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer

from collector.publisher import UNENCODABLE, RawPublisher, encode_document
from schemas.codec import CodecError
from schemas.keys import quarantine_key, raw_key, user_key
from schemas.quarantine import QuarantinedDocument, decode_quarantine
from schemas.records import document_key
from schemas.settings import KafkaSettings
from schemas.topics import QUARANTINE, raw_topic

log = logging.getLogger("collector.requeue")


@dataclass(slots=True)
class RequeueReport:
    read: int = 0
    requeued: int = 0
    still_refused: int = 0
    unreadable: int = 0

    def summary(self) -> str:
        return (
            f"requeue-quarantine: {self.read} quarantine records read, {self.requeued} documents "
            f"requeued, {self.still_refused} still refused, {self.unreadable} unreadable"
        )


async def read_quarantine(
    settings: KafkaSettings, report: RequeueReport
) -> list[QuarantinedDocument]:
    """Every quarantine record up to the end offsets seen at start, with a group-less consumer
    (nothing is committed anywhere)."""
    consumer = AIOKafkaConsumer(
        f"{settings.topic_prefix}{QUARANTINE}",
        **settings.client_kwargs(),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    held: list[QuarantinedDocument] = []
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        end = await consumer.end_offsets(list(consumer.assignment()))
        await consumer.seek_to_beginning()
        pending = {tp for tp, offset in end.items() if offset > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset >= end[tp]:
                        continue
                    report.read += 1
                    if message.value is None:
                        held = _without(held, message.key)
                    else:
                        held.extend(_decoded(message.value, report))
            for tp in list(pending):
                if await consumer.position(tp) >= end[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return held


def _without(held: list[QuarantinedDocument], key: bytes | None) -> list[QuarantinedDocument]:
    """`held` less the records a tombstone with `key` deletes (keys of either layout: the
    record's own, or its user's alone as before the topics were compacted)."""
    return [
        h
        for h in held
        if key not in (quarantine_key(h.user_id, h.data_type, h.document_key), user_key(h.user_id))
    ]


def _decoded(value: bytes, report: RequeueReport) -> list[QuarantinedDocument]:
    try:
        return [decode_quarantine(value)]
    except CodecError as exc:
        report.unreadable += 1
        log.warning("unreadable quarantine record", extra={"error": str(exc)})
        return []


def newest_copies(held: list[QuarantinedDocument]) -> list[QuarantinedDocument]:
    newest: dict[tuple[str, str, str], QuarantinedDocument] = {}
    for record in held:
        key = (record.user_id, record.data_type, record.document_key)
        if key not in newest or record.fetched_at >= newest[key].fetched_at:
            newest[key] = record
    return list(newest.values())


async def requeue_quarantine(
    settings: KafkaSettings,
    publisher: RawPublisher,
    *,
    since: datetime | None = None,
    only: Collection[str] | None = None,
) -> RequeueReport:
    """Publish to its raw topic every quarantined document (fetched at or after `since`, of the
    types in `only`) that the current schema takes."""
    report = RequeueReport()
    sendable: list[tuple[str, bytes | None, bytes]] = []  # topic, value, key
    for record in newest_copies(await read_quarantine(settings, report)):
        if (since and record.fetched_at < since) or (only and record.data_type not in only):
            continue
        try:
            document = json.loads(record.document_json)
            value = encode_document(
                record.user_id, record.data_type, document, record.fetched_at, record.endpoint
            )
        except UNENCODABLE:  # json.JSONDecodeError is a ValueError
            report.still_refused += 1
            continue
        topic = raw_topic(record.data_type, settings.topic_prefix)
        key = raw_key(record.user_id, document_key(record.data_type, document))
        sendable.append((topic, value, key))
    await publisher.send_all(sendable)
    report.requeued = len(sendable)
    return report
