"""Factories for collector tests: users with a connection, and reading raw topics back."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from schemas.quarantine import QuarantinedDocument, decode_quarantine
from schemas.records import RawRecord, decode_raw
from schemas.settings import KafkaSettings
from schemas.topics import QUARANTINE, raw_topic

T = TypeVar("T")

TODAY = datetime.now(UTC).date()


async def create_user(pool: Any, login: str | None = None) -> uuid.UUID:
    login = login or f"user-{uuid.uuid4().hex[:8]}"
    row = await pool.fetchrow(
        "INSERT INTO users (email, username, password_hash) VALUES ($1, $2, 'x') RETURNING id",
        f"{login}-{uuid.uuid4().hex[:6]}@example.com",
        f"{login}-{uuid.uuid4().hex[:6]}",
    )
    user_id: uuid.UUID = row["id"]
    return user_id


async def read_raw(
    settings: KafkaSettings, data_types: list[str], *, timeout_ms: int = 3000
) -> list[RawRecord]:
    """Every record currently on the given raw topics (reads until the end offsets), tombstones
    left out."""
    topics = [raw_topic(t, settings.topic_prefix) for t in data_types]
    records = await read_topics(
        settings,
        topics,
        lambda m: None if m.value is None else decode_raw(m.value),
        timeout_ms=timeout_ms,
    )
    return [r for r in records if r is not None]


async def read_quarantine(settings: KafkaSettings) -> list[QuarantinedDocument]:
    """Every record currently on the quarantine topic."""
    topic = f"{settings.topic_prefix}{QUARANTINE}"
    return await read_topics(settings, [topic], lambda m: decode_quarantine(m.value))


async def read_topics(
    settings: KafkaSettings,
    topics: list[str],
    decode: Callable[[ConsumerRecord], T],
    *,
    timeout_ms: int = 3000,
) -> list[T]:
    """Every record currently on `topics`, decoded (reads until the end offsets); `decode`
    takes the whole consumer record (headers and key included)."""
    consumer = AIOKafkaConsumer(
        *topics,
        **settings.client_kwargs(),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    records: list[T] = []
    try:
        await consumer.seek_to_beginning()
        partitions = consumer.assignment()
        while not partitions:
            await consumer.getmany(timeout_ms=100)
            partitions = consumer.assignment()
        end = await consumer.end_offsets(list(partitions))
        pending = {tp for tp, offset in end.items() if offset > 0}
        while pending:
            batch = await consumer.getmany(timeout_ms=timeout_ms)
            if not batch:
                raise AssertionError(f"raw topics stopped short of their end offsets: {pending}")
            for tp, messages in batch.items():
                records.extend(decode(m) for m in messages if m.offset < end[tp])
            # Positions, not the last offset seen: a compacted topic has gaps at its end too.
            for tp in list(pending):
                if await consumer.position(tp) >= end[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return records


def grant_of(token_response: dict[str, Any]) -> Any:
    from datetime import UTC, datetime, timedelta

    from oura_connection import TokenGrant

    return TokenGrant(
        access_token=token_response["access_token"],
        refresh_token=token_response["refresh_token"],
        expires_at=datetime.now(UTC) + timedelta(seconds=token_response["expires_in"]),
        scopes=token_response["scope"].split(),
    )


async def connect(pool: Any, server: Any, login: str, cipher: Any) -> uuid.UUID:
    """A platform user connected to simulated Oura account `login` (token shortcut)."""
    from oura_connection import store_grant

    user_id = await create_user(pool, login)
    grant = grant_of(server.simulator.issue_tokens(login))
    oura_user_id = server.simulator.user(login).user_id
    await store_grant(pool, user_id, grant, cipher, oura_user_id=oura_user_id)
    return user_id


def served(server: Any, login: str, data_type: str, start: Any, end: Any) -> list[dict[str, Any]]:
    """What the simulator serves for [start, end], in the platform's document shape."""
    from collector.oura import group_heartrate_by_day

    documents = server.simulator.documents(login, data_type, start, end)
    if data_type == "heartrate":
        return group_heartrate_by_day(documents, start, end)
    return list(documents)


def by_key(data_type: str, documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    from schemas.records import document_key

    return {document_key(data_type, d): d for d in documents}
