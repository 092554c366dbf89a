"""The worker killed with SIGKILL mid-stream, PostgreSQL restarted under it, and a replay into
an emptied database: the rows always converge to exactly the expected ones."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from schemas.settings import KafkaSettings
from schemas.tables.trends import TREND_FIELDS
from schemas.topics import DLQ, ensure_topics, raw_topic, registry
from stream_processor.dlq import header_map
from tests.stream_processor.helpers import (
    DAILY_TYPES,
    ROOT,
    PrivateBroker,
    Worker,
    committed_total,
    empty_data_tables,
    eventually,
    expected_rows,
    history,
    produce,
    read_topic,
    run_replay,
    stored_rows,
    stored_trends,
    trend_events,
    wait_committed,
)

PG_CTL = "/usr/lib/postgresql/15/bin/pg_ctl"
PG_RESTART = ("runuser", "-u", "postgres", "--", PG_CTL, "restart", "-m", "fast", "-w", "-t", "60")
PG_BASE = ROOT / ".local" / "postgres"


async def test_sigkill_mid_stream_loses_and_doubles_nothing(
    topics: KafkaSettings,
    db: asyncpg.Pool,
    users: list[str],
    worker: Worker,
    group_id: str,
    processor_env: dict[str, str],
) -> None:
    worker.env["PROCESSOR_BATCH_SIZE"] = "25"
    records: list[Any] = history(users, days=30, seed=7)
    # Undecodable records among them: each must reach the dead-letter topic whatever the kills.
    poison = [
        (raw_topic("sleep", topics.topic_prefix), users[0].encode(), b"\xc3\x01junk-%d" % i)
        for i in range(12)
    ]
    stride = len(records) // len(poison)
    for i, item in enumerate(poison):
        records.insert((i + 1) * stride, item)
    documents = [r for r in records if not isinstance(r, tuple)]
    await produce(topics, records)
    kills = 0
    worker.start()
    progress = 0
    while kills < 4:
        target = progress + 60

        async def moved(target: int = target) -> bool:
            assert worker.alive(), worker.log()
            count: int = await db.fetchval(
                "SELECT (SELECT count(*) FROM sleep) + (SELECT count(*) FROM heartrate)"
                " + (SELECT count(*) FROM daily_activity)"
            )
            return count >= target

        await eventually(moved, 120, "progress before the next kill")
        progress = target
        worker.kill()
        kills += 1
        worker.start()
    await wait_committed(topics, group_id, len(records), worker)
    assert await stored_rows(db, set(DAILY_TYPES)) == expected_rows(documents, set(users))
    assert worker.stop() == 0, worker.log()

    # Trends: the rows equal a replay into an empty database, and the newest event of each
    # (user, metric, day) on the topic says what the row says. A batch killed after its events
    # were sent and before its commit sends them again (at-least-once): a repeat is the same
    # event in the same place of its partition, so the newest per key is still the row.
    trends = await stored_trends(db)
    events = await trend_events(topics)
    newest = {(e["user_id"], e["metric"], _day(e["day"])): _trend_row(e) for e in events}
    assert set(newest.values()) == trends
    await empty_data_tables(db)
    run_replay(processor_env, "--from-beginning")
    assert await stored_trends(db) == trends

    # Dead letters: every poison record is there with its source offset; a re-sent one is the
    # same record from the same source offset.
    letters = [(header_map(m.headers), m.value) for m in await read_topic(topics, DLQ)]
    assert {value for _, value in letters} == {value for _, _, value in poison}
    by_source = {(h["source.topic"], h["source.offset"]): v for h, v in letters}
    assert len(by_source) == len(poison)
    assert all(by_source[(h["source.topic"], h["source.offset"])] == v for h, v in letters)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _trend_row(event: dict[str, Any]) -> tuple[Any, ...]:
    """A trend event as stored_trends gives a row: everything but computed_at."""
    return (
        event["user_id"],
        event["metric"],
        _day(event["day"]),
        *(event[k] for k in TREND_FIELDS),
    )


async def test_postgres_restart_while_the_worker_runs(
    topics: KafkaSettings, db: asyncpg.Pool, users: list[str], worker: Worker, group_id: str
) -> None:
    records = history(users, days=40, seed=11)
    half = len(records) // 2
    worker.start()
    await produce(topics, records[:half])  # type: ignore[arg-type]
    await wait_committed(topics, group_id, half, worker)
    producing = asyncio.create_task(produce(topics, records[half:]))  # type: ignore[arg-type]
    await asyncio.sleep(0.3)
    restart = await asyncio.to_thread(
        subprocess.run,
        [*PG_RESTART, "-D", f"{PG_BASE}/data", "-l", f"{PG_BASE}/postgres.log"],
        # The server inherits pg_ctl's descriptors: never hand it a pipe we wait on.
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=90,
        check=False,
    )
    assert restart.returncode == 0, "pg_ctl restart failed"
    await producing
    await wait_committed(topics, group_id, len(records), worker)
    await db.expire_connections()
    assert await stored_rows(db, set(DAILY_TYPES)) == expected_rows(records, set(users))
    assert "batch not committed, retrying" in worker.log()
    assert worker.stop() == 0, worker.log()


async def test_replay_into_an_emptied_database_gives_identical_rows(
    topics: KafkaSettings,
    db: asyncpg.Pool,
    users: list[str],
    worker: Worker,
    group_id: str,
    processor_env: dict[str, str],
) -> None:
    records = history(users, days=45, seed=3)
    await produce(topics, records)  # type: ignore[arg-type]
    worker.start()
    await wait_committed(topics, group_id, len(records), worker)
    assert worker.stop() == 0, worker.log()
    documents = await stored_rows(db, set(DAILY_TYPES))
    trends = await stored_trends(db)
    assert documents == expected_rows(records, set(users))
    assert trends, "the history should have produced trends"
    published = len(await trend_events(topics))

    await empty_data_tables(db)
    summary = run_replay(processor_env, "--from-beginning")
    assert summary["records"] == len(records)
    assert await stored_rows(db, set(DAILY_TYPES)) == documents
    assert await stored_trends(db) == trends
    assert summary["trends"] > 0
    assert len(await trend_events(topics)) == published + summary["trends"]

    # Replaying again over a complete database changes and publishes nothing.
    again = run_replay(processor_env, "--topics", "daily_sleep", "sleep")
    assert again["persisted"] == 0 and again["trends"] == 0
    assert again["unchanged"] == sum(1 for r in records if r.data_type in {"daily_sleep", "sleep"})


async def test_broker_restart_while_the_worker_runs(
    db: asyncpg.Pool,
    users: list[str],
    worker: Worker,
    group_id: str,
    topics: KafkaSettings,
    tmp_path: Path,
) -> None:
    """The broker stops under a running worker and comes back: the worker waits (the same
    process throughout, no crash loop), resumes, and the rows come out exact."""
    broker = PrivateBroker(tmp_path / "broker")
    broker.up()
    try:
        private = topics.model_copy(update={"bootstrap_servers": broker.bootstrap})
        await ensure_topics(private, registry(private.topic_prefix))
        worker.env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap
        records = history(users, days=40, seed=13)
        half = len(records) // 2
        worker.start()
        await produce(private, records[:half])  # type: ignore[arg-type]
        await wait_committed(private, group_id, half, worker)
        pid = worker.process.pid if worker.process else None

        broker.down()
        await asyncio.sleep(8)  # the worker sees the broker gone: fetches, commits, heartbeats fail
        assert worker.alive(), worker.log()
        broker.up()

        await produce(private, records[half:])  # type: ignore[arg-type]
        await wait_committed(private, group_id, len(records), worker)
        assert worker.process is not None and worker.process.pid == pid and worker.starts == 1
        assert await committed_total(private, group_id) == len(records)
        assert await stored_rows(db, set(DAILY_TYPES)) == expected_rows(records, set(users))
        assert worker.stop() == 0, worker.log()
    finally:
        worker.kill()
        broker.down()
