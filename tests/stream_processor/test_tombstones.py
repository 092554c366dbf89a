"""Tombstones on the raw topics (Oura deleted a document) and records of erased accounts that
arrive after their erasure, through the broker and a worker subprocess."""

from __future__ import annotations

import hashlib
import uuid

import asyncpg

from schemas.keys import raw_key, trend_key
from schemas.records import document_key, encode_raw
from schemas.settings import KafkaSettings
from schemas.topics import DLQ, TRENDS, raw_topic
from tests.stream_processor.helpers import (
    Worker,
    day,
    produce,
    raw,
    read_topic,
    run_replay,
    wait_committed,
)


async def test_a_tombstone_removes_the_document_and_recomputes_its_trends(
    topics: KafkaSettings, db: asyncpg.Pool, users: list[str], worker: Worker, group_id: str
) -> None:
    user, other = users[0], users[1]
    kept = [raw(user, "daily_sleep", day(n), seed=n) for n in range(3)]
    doomed = raw(user, "daily_sleep", day(3), seed=3)
    neighbour = raw(other, "daily_sleep", day(3), seed=3)
    worker.start()
    await produce(topics, [*kept, doomed, neighbour])
    await wait_committed(topics, group_id, 5, worker)
    doomed_key = document_key("daily_sleep", doomed.document)
    stored = "SELECT count(*) FROM daily_sleep WHERE user_id = $1 AND id = $2"
    assert await db.fetchval(stored, user, doomed_key) == 1
    value_before = await db.fetchval(
        "SELECT value FROM daily_trends WHERE user_id = $1 AND metric = 'daily_sleep.score'"
        " AND day = $2",
        user,
        day(3),
    )
    assert value_before is not None

    topic = raw_topic("daily_sleep", topics.topic_prefix)
    await produce(topics, [(topic, raw_key(user, doomed_key), None)])
    await wait_committed(topics, group_id, 6, worker)

    rows = await db.fetch("SELECT user_id::text, id FROM daily_sleep ORDER BY day")
    assert (user, doomed_key) not in {(r[0], r[1]) for r in rows}
    assert len([r for r in rows if r[0] == user]) == 3
    assert (other, document_key("daily_sleep", neighbour.document)) in {(r[0], r[1]) for r in rows}
    trend = await db.fetchrow(
        "SELECT value FROM daily_trends WHERE user_id = $1 AND metric = 'daily_sleep.score'"
        " AND day = $2",
        user,
        day(3),
    )
    assert trend is not None and trend["value"] is None
    # The recomputed trend went out under its compaction key, newest last.
    events = await read_topic(topics, TRENDS)
    mine = [m for m in events if m.key == trend_key(user, "daily_sleep.score", day(3).isoformat())]
    assert mine, "the trend of the day was published under its key"
    assert worker.alive(), worker.log()


async def test_records_of_an_erased_account_arriving_late_are_tombstoned_not_kept(
    topics: KafkaSettings,
    db: asyncpg.Pool,
    users: list[str],
    worker: Worker,
    group_id: str,
    processor_env: dict[str, str],
) -> None:
    erased = str(uuid.uuid4())  # no account any more; its erasure receipt holds its digest
    await db.execute(
        "INSERT INTO erasures (id, subject_digest, status, completed_at)"
        " VALUES ($1, $2, 'complete', now())",
        uuid.uuid4(),
        hashlib.sha256(erased.encode()).digest(),
    )
    stranger = str(uuid.uuid4())  # never had an account: skipped, but not ours to delete
    late = raw(erased, "daily_readiness", day(1), seed=1)
    bad = raw(erased, "daily_readiness", day(2), seed=2)
    bad.document["day"] = "2025-02-30"
    unknown = raw(stranger, "daily_readiness", day(1), seed=1)
    good = raw(users[0], "daily_readiness", day(1), seed=1)
    topic = raw_topic("daily_readiness", topics.topic_prefix)
    bad_key = raw_key(erased, document_key("daily_readiness", bad.document))
    worker.start()
    await produce(
        topics,
        [late, (topic, bad_key, encode_raw(bad)), unknown, good],
    )
    await wait_committed(topics, group_id, 4, worker)

    stored = await db.fetch("SELECT user_id::text FROM daily_readiness")
    assert [r[0] for r in stored] == [users[0]]
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0
    assert await read_topic(topics, DLQ) == []
    records = await read_topic(topics, "oura.raw.daily_readiness")
    late_key = raw_key(erased, document_key("daily_readiness", late.document))
    tombstones = {m.key for m in records if m.value is None}
    assert tombstones == {late_key, bad_key}
    # Each tombstone follows the record it deletes, on the same partition (so compaction
    # removes the record): the partitioner uses the user part of the key.
    by_key = {(m.key, m.value is None): (m.partition, m.offset) for m in records}
    for key in tombstones:
        assert by_key[(key, True)][0] == by_key[(key, False)][0]
        assert by_key[(key, True)][1] > by_key[(key, False)][1]
    assert worker.alive(), worker.log()

    # What the pipeline reports agrees: the erased account's bad record was not dead-lettered.
    summary = run_replay(processor_env, "--from-beginning", "--topics", "daily_readiness")
    assert summary["dead_lettered"] == 0, summary
    assert summary["persisted"] + summary["unchanged"] == 1, summary
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0
