"""`python -m stream_processor migrate-topics` on topics laid out as before compaction (keyed by
user, delete policy): every record re-keyed, none lost, every user on its partition, the
workers' group rewound, and the data replayable into the same rows."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.keys import dead_letter_key, partition_of, raw_key, trend_key
from schemas.records import document_key, encode_raw, encode_trend
from schemas.settings import KafkaSettings
from schemas.topics import (
    DLQ,
    TRENDS,
    committed_offsets,
    delete_topics,
    ensure_topics,
    raw_topic,
    registry,
)
from stream_processor.topic_migration import BACKUP_SUFFIX
from tests.stream_processor.helpers import (
    ROOT,
    day,
    expected_rows,
    history,
    read_topic,
    run_replay,
    stored_rows,
)

OLD_LAYOUT = {"cleanup.policy": "delete", "retention.ms": "-1"}


@pytest.fixture
async def old_topics(
    kafka_settings: KafkaSettings, topic_prefix: str
) -> AsyncIterator[KafkaSettings]:
    settings = kafka_settings.model_copy(update={"topic_prefix": topic_prefix})
    specs = [replace(s, config=dict(OLD_LAYOUT)) for s in registry(topic_prefix)]
    await ensure_topics(settings, specs)
    yield settings
    names = [s.name for s in specs]
    await delete_topics(settings, names + [n + BACKUP_SUFFIX for n in names])


def _migrate(env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "stream_processor", "migrate-topics"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )


async def _policy(settings: KafkaSettings, topic: str) -> str:
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        entries = {e[0]: e[1] for r in responses for res in r.resources for e in res[4]}
        return str(entries["cleanup.policy"])
    finally:
        await admin.close()


async def test_old_topics_are_rewritten_into_the_compacted_layout(
    old_topics: KafkaSettings,
    db: asyncpg.Pool,
    users: list[str],
    processor_env: dict[str, str],
    group_id: str,
) -> None:
    prefix = old_topics.topic_prefix
    records = [r for r in history(users, 4, seed=3) if r.data_type != "heartrate"]
    trend = {
        "user_id": users[0],
        "day": day(1).isoformat(),
        "metric": "daily_sleep.score",
        "value": 80.0,
        "mean_7d": None,
        "mean_28d": None,
        "baseline": None,
        "baseline_spread": None,
        "deviation": None,
        "direction": "flat",
        "flag": False,
        "in_progress": False,
        "computed_at": 0,
    }
    letter_source = (raw_topic("daily_sleep", prefix), 2, 17)
    producer = AIOKafkaProducer(**old_topics.client_kwargs(), acks="all")
    await producer.start()
    try:  # the layout before: every record keyed by its user alone, default partitioner
        sent = [
            await producer.send(
                raw_topic(r.data_type, prefix), encode_raw(r), key=r.user_id.encode()
            )
            for r in records
        ]
        trend_key_before = users[0].encode()
        sent.append(await producer.send(prefix + TRENDS, encode_trend(trend), key=trend_key_before))
        headers = [
            ("source.topic", letter_source[0].encode()),
            ("source.partition", b"2"),
            ("source.offset", b"17"),
            ("error.class", b"CorruptRecord"),
        ]
        sent.append(
            await producer.send(prefix + DLQ, b"\x00junk", key=users[1].encode(), headers=headers)
        )
        sent.append(
            await producer.send(
                raw_topic("daily_sleep", prefix), b"\x00junk", key=users[2].encode()
            )
        )
        for future in sent:
            await future
    finally:
        await producer.stop()
    before = {
        topic: await read_topic(old_topics, topic)
        for topic in (*{f"oura.raw.{r.data_type}" for r in records}, TRENDS, DLQ)
    }

    partitions = {s.name: s.partitions for s in registry(prefix)}
    env = {**processor_env, "PROCESSOR_GROUP_ID": group_id}
    done = _migrate(env)
    assert done.returncode == 0, done.stderr.decode()[-3000:]

    for topic, old in before.items():
        assert await _policy(old_topics, prefix + topic) == "compact"
        new = await read_topic(old_topics, topic)
        assert Counter(m.value for m in new) == Counter(m.value for m in old), topic
        # Every user's records stay on the partition their user key put them on.
        count = partitions[prefix + topic]
        assert all(m.partition == partition_of(m.key, count) for m in new), topic
        old_places = Counter((m.partition, m.value) for m in old)
        assert Counter((m.partition, m.value) for m in new) == old_places, topic
    raw_keys = {
        m.key
        for t in before
        if t.startswith("oura.raw.")
        for m in await read_topic(old_topics, t)
        if m.value != b"\x00junk"
    }
    assert raw_keys == {raw_key(r.user_id, document_key(r.data_type, r.document)) for r in records}
    (trend_record,) = await read_topic(old_topics, TRENDS)
    assert trend_record.key == trend_key(users[0], "daily_sleep.score", day(1).isoformat())
    (letter,) = await read_topic(old_topics, DLQ)
    assert letter.key == dead_letter_key(users[1], *letter_source)
    sleep = await read_topic(old_topics, "oura.raw.daily_sleep")
    (junk,) = [m for m in sleep if m.value == b"\x00junk"]
    assert junk.key.startswith(f"{users[2]}/legacy/".encode())  # undecodable, still its user's
    # The workers' group starts the new raw topics from the beginning.
    offsets = await committed_offsets(old_topics, group_id)
    assert offsets and all(v == 0 for (t, _), v in offsets.items())
    # No backup left behind, and a second run finds nothing to do.
    again = _migrate(env)
    assert again.returncode == 0, again.stderr.decode()[-3000:]
    assert '"migrated"' not in again.stdout.decode()

    run_replay(env)
    assert await stored_rows(db, {r.data_type for r in records}) == expected_rows(
        records, set(users)
    )
