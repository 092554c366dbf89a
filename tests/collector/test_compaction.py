"""Ten daily runs with the collector's 3-day overlap publish most documents four times; once
the broker has compacted the raw topics, each document is there once, in its newest version."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from collector.collect import run_daily
from schemas.data_types import BY_NAME
from schemas.keys import raw_key
from schemas.records import decode_raw, document_key
from schemas.settings import KafkaSettings
from schemas.topics import raw_topic, registry
from tests.collector.helpers import TODAY, connect, read_topics
from tests.compaction import (
    FILLER_KEY,
    compact_until,
    compacting_topics,
    every_partition,
)

TYPES = ["daily_sleep", "daily_readiness", "sleep", "workout"]
RUNS = 10


@pytest.fixture
async def topics(kafka_settings: KafkaSettings, topic_prefix: str) -> AsyncIterator[KafkaSettings]:
    """The registry's topics under this test's prefix, compacting within about a second."""
    async with compacting_topics(kafka_settings, topic_prefix) as settings:
        yield settings


async def _records(topics: KafkaSettings) -> list[Any]:
    names = [raw_topic(t, topics.topic_prefix) for t in TYPES]
    records = await read_topics(topics, names, lambda m: m)
    return [m for m in records if m.key != FILLER_KEY]


async def test_ten_daily_runs_leave_each_document_once_after_compaction(
    collector: Any, sim: Any, db: Any, topics: KafkaSettings, cipher: Any
) -> None:
    await connect(db, sim, "demo", cipher)
    only = [BY_NAME[t] for t in TYPES]
    for run in range(RUNS):
        if run:
            sim.simulator.clock.advance(86400)
        report = await run_daily(collector, today=TODAY + timedelta(days=run), only=only)
        assert report.exit_code == 0
    published = await _records(topics)
    copies = Counter(m.key for m in published)
    assert max(copies.values()) >= 4, "the overlap re-published documents (else nothing to test)"
    newest: dict[bytes, bytes] = {}
    for m in published:  # the last record of a key is the newest version
        newest[m.key] = m.value

    async def once() -> bool:
        keys = Counter(m.key for m in await _records(topics))
        return set(keys) == set(copies) and max(keys.values()) == 1

    specs = [s for s in registry(topics.topic_prefix) if s.name in {m.topic for m in published}]
    await compact_until(topics, every_partition(specs), once)

    left = await _records(topics)
    assert {m.key: m.value for m in left} == newest
    for m in left:  # keyed by user and document, as the processor stores them
        record = decode_raw(m.value)
        assert m.key == raw_key(record.user_id, document_key(record.data_type, record.document))
    before = sum(len(m.key) + len(m.value) for m in published)
    after = sum(len(m.key) + len(m.value) for m in left)
    one_copy = sum(len(k) + len(v) for k, v in newest.items())
    print(
        f"raw topics: {len(published)} records / {before} bytes before compaction, "
        f"{len(left)} / {after} after; unique documents {len(newest)}, "
        f"bytes per unique document {after / len(newest):.0f} "
        f"= {after / one_copy:.2f} x one encoded copy"
    )
    assert after == one_copy
