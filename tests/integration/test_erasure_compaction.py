"""Erasure reaches the log, end to end on the real broker and database: the collector's publisher
writes three users' documents (one quarantined, one dead-lettered), the processor stores them,
one user erases their account through the gateway, the broker's cleaner compacts (forced by the
test's topic configs) and afterwards no record of that user is left on any topic, not even a
tombstone, while the others' newest records are all there; a replay into emptied tables brings
back exactly the others' rows; no user-linked table holds anything of the erased user."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from collector.publisher import RawPublisher
from gateway.app import create_app
from gateway.settings import GatewaySettings
from schemas.data_types import DATA_TYPES
from schemas.examples import example_document
from schemas.keys import partition_of, user_key, user_of
from schemas.settings import DatabaseSettings, KafkaSettings
from schemas.topics import raw_topic, registry
from tests.collector.helpers import read_topics
from tests.compaction import compact_until, compacted, compacting_topics
from tests.gateway.conftest import make_settings
from tests.gateway.factories import register
from tests.gateway.test_erasure import rows_of
from tests.stream_processor.helpers import (
    Worker,
    committed_total,
    empty_data_tables,
    eventually,
    run_replay,
    stored_rows,
    stored_trends,
)

ROOT = Path(__file__).resolve().parents[2]
TYPES = ("daily_sleep", "daily_readiness", "daily_activity")
TABLES = set(TYPES)
FETCHED = datetime(2026, 1, 10, 5, 0, tzinfo=UTC)


@pytest.fixture
async def compacting(
    kafka_settings: KafkaSettings, topic_prefix: str
) -> AsyncIterator[KafkaSettings]:
    """The registry's topics under this test's prefix, the compacted ones compacting at once."""
    async with compacting_topics(kafka_settings, topic_prefix) as settings:
        yield settings


@pytest.fixture
async def gateway(
    db: asyncpg.Pool, db_settings: DatabaseSettings, compacting: KafkaSettings
) -> AsyncIterator[httpx.AsyncClient]:
    settings: GatewaySettings = make_settings()
    application: FastAPI = create_app(settings, database=db_settings, kafka=compacting)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("203.0.113.7", 51000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


@pytest.fixture
def worker(
    compacting: KafkaSettings, db_settings: DatabaseSettings, group_id: str, tmp_path: Path
) -> Iterator[Worker]:
    env = {
        **os.environ,
        "KAFKA_TOPIC_PREFIX": compacting.topic_prefix,
        "DB_NAME": db_settings.name,
        "PROCESSOR_GROUP_ID": group_id,
        "PROCESSOR_METRICS_PORT": "0",
        "PROCESSOR_BATCH_WITHIN_S": "0.2",
        "PROCESSOR_RETRY_CAP_S": "2",
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
    }
    w = Worker(env, tmp_path / "worker.log")
    yield w
    w.stop()


async def publish_history(settings: KafkaSettings, users: list[str]) -> int:
    """Three days of three types per user, each published twice (the collector's overlap);
    the first user also gets a document the collector quarantines and one the processor
    dead-letters. Returns how many raw records went out."""
    published = 0
    async with RawPublisher(settings) as publisher:
        for index, user in enumerate(users):
            for data_type in TYPES:
                documents = [
                    example_document(
                        data_type, day=date(2026, 1, 1) + timedelta(days=n), seed=index
                    )
                    for n in range(3)
                ]
                for _ in range(2):
                    sent = await publisher.publish(
                        user,
                        data_type,
                        documents,
                        fetched_at=FETCHED,
                        endpoint=f"/v2/usercollection/{data_type}",
                    )
                    published += sent.records
        unencodable = example_document("daily_sleep", day=date(2026, 1, 4), seed=9)
        unencodable["score"] = "81"
        invalid = example_document("daily_readiness", day=date(2026, 1, 4), seed=9)
        invalid["day"] = "2026-02-30"
        sleep = await publisher.publish(
            users[0], "daily_sleep", [unencodable], fetched_at=FETCHED, endpoint="/v2/x"
        )
        assert sleep.records == 0 and len(sleep.quarantined) == 1
        readiness = await publisher.publish(
            users[0], "daily_readiness", [invalid], fetched_at=FETCHED, endpoint="/v2/x"
        )
        published += readiness.records
    return published


async def newest_records(settings: KafkaSettings) -> dict[tuple[str, bytes], bytes | None]:
    """(topic, key) -> newest value, over every topic read from the beginning to its end."""
    names = [s.name for s in registry(settings.topic_prefix)]
    messages = await read_topics(settings, names, lambda m: m)
    return {(m.topic, m.key): m.value for m in messages}


async def keys_of(settings: KafkaSettings, user: str) -> list[tuple[str, bytes]]:
    """Every record (tombstones included) whose key names the user, on any topic."""
    names = [s.name for s in registry(settings.topic_prefix)]
    messages = await read_topics(settings, names, lambda m: m)
    return [(m.topic, m.key) for m in messages if user_of(m.key) == user]


async def roll_segments_until_gone(settings: KafkaSettings, user: str, seconds: float) -> None:
    """Filler records on the user's partition of every compacted topic (tests.compaction) until
    no record of the user is left."""
    targets = [
        (s.name, partition_of(user_key(user), s.partitions))
        for s in registry(settings.topic_prefix)
        if compacted(s)
    ]

    async def gone() -> bool:
        return not await keys_of(settings, user)

    await compact_until(settings, targets, gone, within_s=seconds)


async def test_an_erased_account_leaves_nothing_in_the_log_and_replay_cannot_bring_it_back(
    gateway: httpx.AsyncClient,
    db: asyncpg.Pool,
    compacting: KafkaSettings,
    worker: Worker,
    group_id: str,
) -> None:
    accounts = [await register(gateway) for _ in range(3)]
    users = [a["id"] for a in accounts]
    erased, others = users[0], set(users[1:])
    total = await publish_history(compacting, users)
    worker.start()

    async def stored() -> bool:
        assert worker.alive(), worker.log()
        done = await committed_total(compacting, group_id) >= total
        return done and await db.fetchval("SELECT count(*) FROM dead_letters") == 1

    await eventually(stored, 180, "the history stored")
    assert await db.fetchval("SELECT user_id FROM dead_letters") == erased
    rows_before = await stored_rows(db, TABLES)
    assert {r[1] for r in rows_before} == set(users)
    trends_before = {t for t in await stored_trends(db) if t[0] in others}
    assert trends_before
    log_before = await newest_records(compacting)
    for kind in ("oura.raw.daily_sleep", "oura.trends.daily", "oura.dlq", "oura.raw.quarantine"):
        topic = compacting.topic_prefix + kind
        assert any(t == topic and user_of(k) == erased for t, k in log_before), kind

    headers = {"Authorization": f"Bearer {accounts[0]['token']}"}
    accepted = await gateway.delete("/api/me", headers=headers)
    assert accepted.status_code == 202, accepted.text
    status_url = accepted.json()["status_url"]

    async def complete() -> bool:
        return bool((await gateway.get(status_url)).json()["status"] == "complete")

    await eventually(complete, 120, "the erasure complete")
    receipt = (await gateway.get(status_url)).json()
    raw_topics = {raw_topic(t.name, compacting.topic_prefix) for t in DATA_TYPES}
    raw_tombstones = sum(n for topic, n in receipt["tombstones"].items() if topic in raw_topics)
    assert raw_tombstones > 0
    # The processor consumes the tombstones on the raw topics (nothing of the user to remove).
    try:
        await eventually(
            lambda: _committed_at_least(compacting, group_id, total + raw_tombstones, worker),
            120,
            "the tombstones consumed",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{worker.log()}") from None
    assert worker.stop() == 0, worker.log()
    assert not any((await rows_of(db, uuid.UUID(erased))).values())

    await roll_segments_until_gone(compacting, erased, 240)

    log_after = await newest_records(compacting)
    theirs_before = {k: v for k, v in log_before.items() if user_of(k[1]) in others}
    theirs_after = {k: v for k, v in log_after.items() if user_of(k[1]) in others}
    assert theirs_before and theirs_after == theirs_before
    assert not [k for k in log_after if user_of(k[1]) == erased]

    # Replay into emptied tables: the others' rows and trends come back as they were.
    await empty_data_tables(db)
    summary = run_replay(worker.env, "--from-beginning")
    assert summary, summary
    rows_after = await stored_rows(db, TABLES)
    assert rows_after == {r for r in rows_before if r[1] in others}
    assert await stored_trends(db) == trends_before
    assert not any((await rows_of(db, uuid.UUID(erased))).values())


async def _committed_at_least(
    settings: KafkaSettings, group: str, total: int, worker: Worker
) -> bool:
    assert worker.alive(), worker.log()
    return await committed_total(settings, group) >= total
