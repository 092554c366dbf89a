"""The worker killed with SIGKILL mid-stream, PostgreSQL restarted under it, and a replay into
an emptied database: the rows always converge to exactly the expected ones."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncpg

from schemas.settings import KafkaSettings
from schemas.topics import ensure_topics, registry
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
    run_replay,
    stored_rows,
    stored_trends,
    trend_events,
)

PG_CTL = "/usr/lib/postgresql/15/bin/pg_ctl"
PG_RESTART = ("runuser", "-u", "postgres", "--", PG_CTL, "restart", "-m", "fast", "-w", "-t", "60")
PG_BASE = ROOT / ".local" / "postgres"


async def _wait_committed(topics: KafkaSettings, group: str, total: int, worker: Worker) -> None:
    async def done() -> bool:
        assert worker.alive(), worker.log()
        return await committed_total(topics, group) >= total

    await eventually(done, 180, f"{total} records committed")


async def test_sigkill_mid_stream_loses_and_doubles_nothing(
    topics: KafkaSettings,
    db: asyncpg.Pool,
    users: list[str],
    worker: Worker,
    group_id: str,
) -> None:
    worker.env["PROCESSOR_BATCH_SIZE"] = "25"
    records = history(users, days=30, seed=7)
    await produce(topics, records)  # type: ignore[arg-type]
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
    await _wait_committed(topics, group_id, len(records), worker)
    assert await stored_rows(db, set(DAILY_TYPES)) == expected_rows(records, set(users))
    assert worker.stop() == 0, worker.log()


async def test_postgres_restart_while_the_worker_runs(
    topics: KafkaSettings, db: asyncpg.Pool, users: list[str], worker: Worker, group_id: str
) -> None:
    records = history(users, days=40, seed=11)
    half = len(records) // 2
    worker.start()
    await produce(topics, records[:half])  # type: ignore[arg-type]
    await _wait_committed(topics, group_id, half, worker)
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
    await _wait_committed(topics, group_id, len(records), worker)
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
    await _wait_committed(topics, group_id, len(records), worker)
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
        await _wait_committed(private, group_id, half, worker)
        pid = worker.process.pid if worker.process else None

        broker.down()
        await asyncio.sleep(8)  # the worker sees the broker gone: fetches, commits, heartbeats fail
        assert worker.alive(), worker.log()
        broker.up()

        await produce(private, records[half:])  # type: ignore[arg-type]
        await _wait_committed(private, group_id, len(records), worker)
        assert worker.process is not None and worker.process.pid == pid and worker.starts == 1
        assert await committed_total(private, group_id) == len(records)
        assert await stored_rows(db, set(DAILY_TYPES)) == expected_rows(records, set(users))
        assert worker.stop() == 0, worker.log()
    finally:
        worker.kill()
        broker.down()
