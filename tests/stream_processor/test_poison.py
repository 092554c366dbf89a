"""A poison mix: every record that cannot be stored lands in the dead-letter topic with its
reason, one with implausible fields is stored with its notes, every good one is persisted, and
the stream never stops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import asyncpg

from schemas.codec import default_codec
from schemas.documents import to_avro
from schemas.keys import UNKNOWN_USER, dead_letter_key, user_of
from schemas.records import encode_raw, schema_name
from schemas.settings import KafkaSettings
from schemas.topics import DLQ, raw_topic
from stream_processor.dlq import header_map
from tests.stream_processor.helpers import (
    ROOT,
    Worker,
    committed_total,
    day,
    eventually,
    expected_rows,
    produce,
    raw,
    read_topic,
    stored_rows,
)


def _datum(record_user: str, data_type: str, document: dict[str, object]) -> bytes:
    """Encode with the real codec, bypassing nothing but our good intentions."""
    datum = {
        "user_id": record_user,
        "data_type": data_type,
        "fetched_at": 1767000000000,
        "endpoint": f"/v2/usercollection/{data_type}",
        "api_version": "1.37",
        "document": to_avro(data_type, document),
    }
    return default_codec().encode(schema_name(data_type), datum)


def _dead_letters_cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "stream_processor", "dead-letters", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return result.stdout.decode()


async def test_poison_records_go_to_the_dlq_with_their_reason(
    topics: KafkaSettings,
    db: asyncpg.Pool,
    users: list[str],
    worker: Worker,
    group_id: str,
    processor_env: dict[str, str],
) -> None:
    user = users[0]
    prefix = topics.topic_prefix
    good = [
        raw(u, t, day(i), seed=i)
        for i, u in enumerate(users)
        for t in ("daily_sleep", "sleep", "daily_activity", "heartrate", "workout")
    ]
    out_of_range = raw(user, "daily_readiness", day(5), seed=3)
    out_of_range.document["score"] = 140
    out_of_range.document["contributors"]["hrv_balance"] = 0
    backwards = raw(user, "sleep", day(6), seed=4)
    backwards.document["bedtime_end"], backwards.document["bedtime_start"] = (
        backwards.document["bedtime_start"],
        backwards.document["bedtime_end"],
    )
    no_day = raw(user, "daily_stress", day(7), seed=5)
    no_day.document["day"] = "2025-02-30"
    missing = raw(user, "daily_sleep", day(8), seed=6).document
    missing["id"] = ""
    missing["timestamp"] = ""
    unknown_fingerprint = b"\xc3\x01" + os.urandom(8) + b"\x02\x04body"
    topic_of = {t: raw_topic(t, prefix) for t in ("daily_sleep", "daily_readiness", "sleep")}
    poison: list[tuple[str, bytes | None, bytes]] = [
        (topic_of["daily_sleep"], user.encode(), os.urandom(64)),
        (topic_of["daily_sleep"], user.encode(), unknown_fingerprint),
        (raw_topic("daily_stress", prefix), user.encode(), encode_raw(no_day)),
        (topic_of["daily_sleep"], b"x", _datum("", "daily_sleep", good[0].document)),
        (topic_of["daily_sleep"], b"x", _datum("not-a-uuid", "daily_sleep", good[0].document)),
        # a perfectly good record on the wrong topic
        (topic_of["sleep"], user.encode(), encode_raw(good[0])),
    ]
    # Implausible fields, not unusable documents: stored, with the fields flagged.
    flagged: list[tuple[str, bytes | None, bytes]] = [
        (topic_of["daily_readiness"], user.encode(), encode_raw(out_of_range)),
        (topic_of["sleep"], user.encode(), encode_raw(backwards)),
        (topic_of["daily_sleep"], user.encode(), _datum(user, "daily_sleep", missing)),
    ]
    mixed: list[object] = []
    for index, item in enumerate(poison + flagged):
        mixed += [good[index % len(good)], item]
    mixed += good
    worker.start()
    await produce(topics, mixed)  # type: ignore[arg-type]

    async def done() -> bool:
        assert worker.alive(), worker.log()
        return await committed_total(topics, group_id) >= len(mixed)

    await eventually(done, 90, "every record committed")
    letters = await read_topic(topics, DLQ)
    assert len(letters) == len(poison)
    by_value = {m.value: header_map(m.headers) for m in letters}
    reasons = [by_value[value] for _, _, value in poison]
    for (topic, key, value), headers in zip(poison, reasons, strict=True):
        assert headers["source.topic"] == topic
        assert int(headers["source.offset"]) >= 0 and "source.partition" in headers
        assert headers["error.message"]
        # Keyed by the source record's user and position; the original key is a header.
        assert headers["source.key"].encode() == key
        expected_key = dead_letter_key(
            user_of(key) or UNKNOWN_USER,
            topic,
            int(headers["source.partition"]),
            int(headers["source.offset"]),
        )
        assert [m.key for m in letters if m.value == value] == [expected_key]
    recorded = await db.fetch("SELECT key, user_id, source_topic, error_class FROM dead_letters")
    assert sorted((r["key"], r["source_topic"]) for r in recorded) == sorted(
        (m.key.decode(), header_map(m.headers)["source.topic"]) for m in letters
    )
    assert {r["user_id"] for r in recorded} == {user, "x"}
    # Operators list them, one user's or all, without a Kafka client.
    listed = _dead_letters_cli(processor_env, "--user", user, "--json")
    mine = [json.loads(line) for line in listed.splitlines()]
    assert sorted(d["key"] for d in mine) == sorted(
        r["key"] for r in recorded if r["user_id"] == user
    )
    assert all(d["reason"] and d["error_class"] and d["dead_lettered_at"] for d in mine)
    everyone = _dead_letters_cli(processor_env, "--limit", "2")
    assert everyone.splitlines()[-1] == "2 dead letter(s)"
    classes = [h["error.class"] for h in reasons]
    assert classes[:2] == ["CorruptRecord", "UnknownSchema"]
    assert set(classes[2:]) <= {"ValidationError", "InvalidRecord"}
    messages = [h["error.message"] for h in reasons]
    assert "2025-02-30" in messages[2] and "not a real calendar date" in messages[2]
    assert "no user_id" in messages[3]
    assert "not a UUID" in messages[4]
    assert "a daily_sleep record on" in messages[5]

    readiness = await db.fetchrow(
        "SELECT score, quality FROM daily_readiness WHERE id = $1", out_of_range.document["id"]
    )
    notes = json.loads(readiness["quality"])
    assert readiness["score"] is None and "score=140 is outside 0-100" in notes["score"]
    assert "contributors.hrv_balance=0 is outside 1-100" in notes["contributors.hrv_balance"]
    sleep = await db.fetchrow(
        "SELECT bedtime_start, bedtime_end, total_sleep_duration, quality FROM sleep WHERE id = $1",
        backwards.document["id"],
    )
    notes = json.loads(sleep["quality"])
    assert sleep["bedtime_end"] is None and "before bedtime_start" in notes["bedtime_end"]
    assert sleep["bedtime_start"] is not None and sleep["total_sleep_duration"] is not None
    derived = await db.fetchrow(
        "SELECT id, quality FROM daily_sleep WHERE user_id = $1 AND id LIKE 'daily_sleep:%'", user
    )
    assert derived["id"] == f"daily_sleep:{missing['day']}"
    assert "required field 'timestamp' is missing" in json.loads(derived["quality"])["timestamp"]

    stored = [*good, out_of_range, backwards, raw(user, "daily_sleep", day(8), document=missing)]
    tables = {r.data_type for r in stored}
    assert await stored_rows(db, tables) == expected_rows(stored, set(users))
    assert uuid.UUID(user)
    assert worker.stop() == 0, worker.log()
