"""Duplicates, revisions and late older documents, through the broker and a worker subprocess."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from schemas.settings import KafkaSettings
from tests.stream_processor.helpers import (
    FETCHED,
    Worker,
    committed_total,
    day,
    eventually,
    produce,
    raw,
    trend_events,
)


@pytest.mark.parametrize("feed", ["handoff", "stream"])
async def test_duplicates_revisions_and_late_records(
    topics: KafkaSettings,
    db: asyncpg.Pool,
    users: list[str],
    worker: Worker,
    group_id: str,
    feed: str,
) -> None:
    worker.env["PROCESSOR_FEED"] = feed
    user = users[0]
    original = raw(user, "daily_sleep", day(0), seed=1)
    original.document["score"] = 70
    produced = 0

    async def settled(total: int) -> None:
        async def done() -> bool:
            assert worker.alive(), worker.log()
            return await committed_total(topics, group_id) >= total

        await eventually(done, 90, f"{total} records committed")

    worker.start()
    await produce(topics, [original, original, original])
    produced += 3
    await settled(produced)
    rows = await db.fetch("SELECT id, score, fetched_at FROM daily_sleep WHERE user_id = $1", user)
    assert [(r["id"], r["score"]) for r in rows] == [(original.document["id"], 70)]
    events = [e for e in await trend_events(topics) if e["metric"] == "daily_sleep.score"]
    assert len(events) == 1 and events[0]["value"] == 70.0 and events[0]["user_id"] == user

    revised_doc = dict(original.document, score=82)
    revised = raw(
        user, "daily_sleep", day(0), document=revised_doc, fetched_at=FETCHED + timedelta(hours=6)
    )
    await produce(topics, [revised])
    produced += 1
    await settled(produced)
    row = await db.fetchrow("SELECT score, fetched_at FROM daily_sleep WHERE user_id = $1", user)
    assert row["score"] == 82 and row["fetched_at"] == revised.fetched_at
    events = [e for e in await trend_events(topics) if e["metric"] == "daily_sleep.score"]
    assert [e["value"] for e in events] == [70.0, 82.0]

    late_doc = dict(original.document, score=55)
    late = raw(
        user, "daily_sleep", day(0), document=late_doc, fetched_at=FETCHED + timedelta(hours=1)
    )
    await produce(topics, [late, revised])
    produced += 2
    await settled(produced)
    row = await db.fetchrow("SELECT score, fetched_at FROM daily_sleep WHERE user_id = $1", user)
    assert row["score"] == 82 and row["fetched_at"] == revised.fetched_at
    assert await db.fetchval("SELECT count(*) FROM daily_sleep") == 1
    events = [e for e in await trend_events(topics) if e["metric"] == "daily_sleep.score"]
    assert len(events) == 2
    trend = await db.fetchrow(
        "SELECT value FROM daily_trends WHERE user_id = $1 AND metric = 'daily_sleep.score'", user
    )
    assert trend["value"] == 82.0
    assert worker.stop() == 0, worker.log()
