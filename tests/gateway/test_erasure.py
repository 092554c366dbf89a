"""Erasure as a process (gateway.erasure): DELETE /api/me deletes every row of the account and
publishes a tombstone for each of its keys on the compacted topics, through the real broker and
database; the receipt at GET /api/erasures/{id}; resuming an erasure left in progress."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from gateway.app import create_app
from gateway.erasure import Eraser
from gateway.producer import SharedProducer
from gateway.settings import GatewaySettings
from schemas.keys import (
    dead_letter_key,
    partition_of,
    quarantine_key,
    raw_key,
    trend_key,
    user_key,
    user_of,
)
from schemas.settings import DatabaseSettings, KafkaSettings
from schemas.topics import DLQ, QUARANTINE, TRENDS, raw_topic, registry
from tests.collector.helpers import read_topics
from tests.gateway.factories import insert_every_type, insert_trend, register
from tests.stream_processor.helpers import eventually, produce

DAY = date(2026, 1, 5)

# Every table holding a user's rows, found as an auditor would: a `user_id` column or a
# foreign key to `users` (the receipt table itself keeps no user once complete).
USER_TABLES = """
SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns
WHERE table_schema = current_schema() AND column_name = 'user_id'
UNION
SELECT cl.relname::text, a.attname::text FROM pg_constraint k
JOIN pg_class cl ON cl.oid = k.conrelid
JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)
WHERE k.contype = 'f' AND k.confrelid = 'users'::regclass
UNION SELECT 'users', 'id'
"""


async def rows_of(db: asyncpg.Pool, user_id: uuid.UUID) -> dict[str, int]:
    """Rows naming the user in every user-linked table (the catalog's list, not a hand list)."""
    counts: dict[str, int] = {}
    for r in await db.fetch(USER_TABLES):
        found = await db.fetchval(
            f'SELECT count(*) FROM "{r["t"]}" WHERE "{r["c"]}"::text = $1', str(user_id)
        )
        counts[r["t"]] = counts.get(r["t"], 0) + found
    return counts


@pytest.fixture
def gateway_kafka(topics: KafkaSettings) -> KafkaSettings:
    """The gateway on this test's own topics."""
    return topics


def records_of(settings: KafkaSettings, user: str) -> list[tuple[str, bytes, bytes | None]]:
    """Keys of every kind on every compacted topic, as the platform's producers write them."""
    p = settings.topic_prefix
    sleep, activity = raw_topic("daily_sleep", p), raw_topic("daily_activity", p)
    return [
        (sleep, raw_key(user, "doc-1"), b"sleep 1"),
        (sleep, raw_key(user, "doc-2"), b"sleep 2"),
        (sleep, raw_key(user, "doc-1"), b"sleep 1, revised"),
        (activity, raw_key(user, "doc-3"), b"activity"),
        (p + TRENDS, trend_key(user, "sleep_score", "2026-01-05"), b"trend"),
        (p + TRENDS, trend_key(user, "sleep_score", "2026-01-06"), b"trend"),
        (p + DLQ, dead_letter_key(user, sleep, 0, 7), b"dead letter"),
        (p + QUARANTINE, quarantine_key(user, "daily_sleep", "doc-9"), b"quarantined"),
        # Deleted at Oura already: its tombstone is the newest record, no second one is due.
        (activity, raw_key(user, "doc-gone"), b"deleted later"),
        (activity, raw_key(user, "doc-gone"), None),
    ]


async def everything(settings: KafkaSettings) -> list[Any]:
    names = [s.name for s in registry(settings.topic_prefix)]
    return await read_topics(settings, names, lambda m: m)


async def seed_rows(db: asyncpg.Pool, user: dict[str, Any], address: str) -> None:
    """A row of the user in every table that can hold one, throttle rows under each name."""
    user_id = uuid.UUID(user["id"])
    await insert_every_type(db, user_id, DAY)
    await insert_trend(db, user_id, "sleep_score", DAY, 80)
    await db.execute(
        "INSERT INTO collection_cursors (user_id, data_type) VALUES ($1, 'daily_sleep')", user_id
    )
    await db.execute(
        "INSERT INTO oauth_states (nonce, user_id, expires_at) VALUES ($1, $2, now())",
        uuid.uuid4().hex,
        user_id,
    )
    await db.execute(
        "INSERT INTO dead_letters (key, user_id, source_topic, source_partition, source_offset,"
        " data_type, error_class, reason) VALUES ($1, $2, 'oura.raw.sleep', 0, $3, 'sleep',"
        " 'validation', 'a bad day')",
        f"{user_id}/oura.raw.sleep/0/1",
        str(user_id),
        hash(user["id"]) % 1_000_000,
    )
    for account in (user["email"].lower(), user["username"].lower()):
        await db.execute(
            "INSERT INTO auth_throttle (scope, key, failures) VALUES ('pair', $1, 2)",
            f"{account}|{address}",
        )


async def test_erasure_deletes_every_row_and_tombstones_every_key_of_the_user(
    client: httpx.AsyncClient, db: asyncpg.Pool, topics: KafkaSettings
) -> None:
    erased, kept, untouched = [
        await register(client, username=f"u{uuid.uuid4().hex[:10]}") for _ in range(3)
    ]
    address = "198.51.100.4"
    for user in (erased, kept):
        await seed_rows(db, user, address)
    # A wrong password: the (account, address) pair's throttle row, keyed by the account id.
    wrong = await client.post("/api/login", json={"email": erased["email"], "password": "x" * 12})
    assert wrong.status_code == 401
    await produce(topics, records_of(topics, erased["id"]) + records_of(topics, kept["id"]))
    before = await everything(topics)

    headers = {"Authorization": f"Bearer {erased['token']}"}
    accepted = await client.delete("/api/me", headers=headers)
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["status"] == "in_progress"
    assert body["status_url"] == f"/api/erasures/{body['id']}"
    erased_id = uuid.UUID(erased["id"])
    # Rows are gone at once, whatever Kafka is doing; the receipt holds the id until then.
    assert {t for t, n in (await rows_of(db, erased_id)).items() if n} == {"erasures"}
    assert await db.fetchval("SELECT count(*) FROM auth_throttle WHERE key LIKE $1", "%|%") == 2

    async def complete() -> bool:
        receipt = await client.get(body["status_url"])
        return bool(receipt.json()["status"] == "complete")

    await eventually(complete, 60, "the erasure's receipt complete")
    receipt = await client.get(body["status_url"])
    assert receipt.status_code == 200
    assert erased["id"] not in receipt.text and erased["email"] not in receipt.text
    r = receipt.json()
    p = topics.topic_prefix
    assert r["tombstones"] == {
        raw_topic("daily_sleep", p): 2,
        raw_topic("daily_activity", p): 1,
        p + TRENDS: 2,
        p + DLQ: 1,
        p + QUARANTINE: 1,
        # Every other compacted topic was read too and held nothing of the user.
        **{
            s.name: 0
            for s in registry(p)
            if s.config.get("cleanup.policy") == "compact"
            and s.name
            not in {
                raw_topic("daily_sleep", p),
                raw_topic("daily_activity", p),
                p + TRENDS,
                p + DLQ,
                p + QUARANTINE,
            }
        },
    }
    deleted = r["rows_deleted"]
    assert deleted["users"] == 1 and deleted["daily_sleep"] == 1 and deleted["daily_trends"] == 1
    assert deleted["dead_letters"] == 1 and deleted["oauth_states"] == 1
    assert deleted["collection_cursors"] == 1
    assert deleted["auth_throttle"] == 3  # id, email and username
    completed = r["completed_at"]
    assert r["compaction_deadline"] is not None and completed is not None
    done = datetime.fromisoformat(completed)
    deadline = datetime.fromisoformat(r["compaction_deadline"])
    assert deadline - done == timedelta(days=7)
    assert datetime.fromisoformat(r["tombstones_removed_by"]) - deadline == timedelta(days=1)
    assert not any((await rows_of(db, erased_id)).values())
    row = await db.fetchrow("SELECT user_id, subject_digest FROM erasures WHERE id = $1", r["id"])
    assert row["user_id"] is None
    assert bytes(row["subject_digest"]) == hashlib.sha256(erased["id"].encode()).digest()

    after = await everything(topics)
    seen = {(b.topic, b.partition, b.offset) for b in before}
    added = [m for m in after if (m.topic, m.partition, m.offset) not in seen]
    # Only tombstones were added, all of the erased user's keys, each on the user's partition,
    # where the records it deletes are.
    assert added and all(m.value is None and user_of(m.key) == erased["id"] for m in added)
    partitions = {s.name: s.partitions for s in registry(p)}
    for message in added:
        assert message.partition == partition_of(user_key(erased["id"]), partitions[message.topic])
        earlier = [b for b in before if (b.topic, b.key) == (message.topic, message.key)]
        assert earlier and all(b.partition == message.partition for b in earlier)
    newest_before = {(m.topic, m.key): m.offset for m in before}
    for message in after:
        if user_of(message.key) == erased["id"]:
            continue
        # Nothing of anyone else was tombstoned.
        assert newest_before[(message.topic, message.key)] >= message.offset
    newest = {(m.topic, m.key): m for m in after if user_of(m.key) == erased["id"]}
    assert newest and all(m.value is None for m in newest.values())
    # The other accounts keep every row.
    assert (await rows_of(db, uuid.UUID(kept["id"])))["daily_sleep"] == 1
    assert (await rows_of(db, uuid.UUID(untouched["id"])))["users"] == 1
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 1
    assert (await client.get("/api/me", headers=headers)).status_code == 401


async def test_the_receipt_route(client: httpx.AsyncClient) -> None:
    unknown = await client.get(f"/api/erasures/{uuid.uuid4()}")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "no erasure has this id", "code": "not_found"}
    malformed = await client.get("/api/erasures/not-a-uuid")
    assert malformed.status_code == 422 and malformed.json()["code"] == "validation_error"
    assert "erasure_id" in malformed.json()["detail"]


async def _in_progress(db: asyncpg.Pool) -> tuple[uuid.UUID, uuid.UUID]:
    """An erasure whose rows are deleted but whose Kafka part never ran (a replica died)."""
    from gateway.erasure import delete_account

    user_id = await db.fetchval(
        "INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id",
        f"{uuid.uuid4().hex}@example.com",
    )
    async with db.acquire() as conn, conn.transaction():
        erasure_id = await delete_account(conn, user_id)
    assert erasure_id is not None
    return user_id, erasure_id


async def test_an_erasure_left_in_progress_is_resumed_once(
    db: asyncpg.Pool,
    db_settings: DatabaseSettings,
    topics: KafkaSettings,
    settings: GatewaySettings,
) -> None:
    user_id, erasure_id = await _in_progress(db)
    await produce(
        topics, [(raw_topic("sleep", topics.topic_prefix), raw_key(str(user_id), "d"), b"x")]
    )
    producer = SharedProducer(topics)
    eraser = Eraser(db, producer, stall_s=30)
    try:
        # Another replica holds it: this one leaves it alone.
        async with db.acquire() as other, other.transaction():
            await other.execute("SELECT 1 FROM erasures WHERE id = $1 FOR UPDATE", erasure_id)
            assert await eraser.run(erasure_id) is False
        # Kafka unreachable: the attempt fails, says why on the receipt, stays in progress.
        offline = Eraser(
            db,
            SharedProducer(topics.model_copy(update={"bootstrap_servers": "127.0.0.1:9"})),
            stall_s=1,
        )
        assert await offline.run(erasure_id) is False
        row = await db.fetchrow(
            "SELECT status, last_error, user_id FROM erasures WHERE id = $1", erasure_id
        )
        assert row["status"] == "in_progress" and row["last_error"] and row["user_id"] == user_id
    finally:
        await producer.stop()

    # A gateway starting up finishes it.
    application = create_app(settings, database=db_settings, kafka=topics)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:

            async def complete() -> bool:
                answer = await c.get(f"/api/erasures/{erasure_id}")
                return bool(answer.json()["status"] == "complete")

            await eventually(complete, 60, "the resumed erasure complete")
            receipt = (await c.get(f"/api/erasures/{erasure_id}")).json()
    assert receipt["tombstones"][raw_topic("sleep", topics.topic_prefix)] == 1
    row = await db.fetchrow("SELECT last_error, user_id FROM erasures WHERE id = $1", erasure_id)
    assert row["last_error"] is None and row["user_id"] is None
    # Complete: running it again publishes nothing more.
    assert await Eraser(db, SharedProducer(topics), stall_s=30).run(erasure_id) is False
    tombstones = [
        m for m in await everything(topics) if m.value is None and user_of(m.key) == str(user_id)
    ]
    assert len(tombstones) == 1
