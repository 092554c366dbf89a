"""Helpers for the stream processor's tests: users, raw records produced to the real broker, the
worker as a real subprocess (`python -m stream_processor worker`), and waiting on its progress."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from schemas.examples import example_document
from schemas.keys import partition_by_user, raw_key
from schemas.records import RawRecord, decode_trend, document_key, encode_raw
from schemas.settings import KafkaSettings
from schemas.topics import TRENDS, committed_offsets, raw_topic

ROOT = Path(__file__).resolve().parents[2]
FETCHED = datetime(2026, 1, 10, 5, 0, tzinfo=UTC)


def raw(user_id: str, data_type: str, day: date, seed: int = 0, **kw: Any) -> RawRecord:
    document = kw.pop("document", None) or example_document(data_type, day=day, seed=seed)
    return RawRecord(
        user_id=user_id,
        data_type=data_type,
        document=document,
        fetched_at=kw.pop("fetched_at", FETCHED),
        endpoint=f"/v2/usercollection/{data_type}",
    )


async def make_users(pool: asyncpg.Pool, count: int) -> list[str]:
    ids = []
    for i in range(count):
        row = await pool.fetchrow(
            "INSERT INTO users (email, password_hash) VALUES ($1, 'not-a-hash') RETURNING id::text",
            f"user{i}-{time.monotonic_ns()}@example.test",
        )
        ids.append(row[0])
    return ids


async def produce(
    settings: KafkaSettings, items: Sequence[RawRecord | tuple[str, bytes | None, bytes | None]]
) -> None:
    """Produce raw records (encoded, keyed as the collector keys them) or (topic, key, value)
    tuples, in order, acks=all, partitioned like every producer of the platform."""
    producer = AIOKafkaProducer(
        **settings.client_kwargs(),
        acks="all",
        enable_idempotence=True,
        partitioner=partition_by_user,
    )
    await producer.start()
    try:
        futures = []
        for item in items:
            key: bytes | None
            value: bytes | None
            if isinstance(item, RawRecord):
                topic = raw_topic(item.data_type, settings.topic_prefix)
                key = raw_key(item.user_id, document_key(item.data_type, item.document))
                value = encode_raw(item)
            else:
                topic, key, value = item
            futures.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_topic(settings: KafkaSettings, name: str) -> list[Any]:
    """Every record of a topic (prefixed name), from the beginning to its end offsets."""
    from tests.collector.helpers import read_topics

    return await read_topics(settings, [settings.topic_prefix + name], lambda m: m)


async def wait_committed(
    settings: KafkaSettings, group: str, total: int, worker: Worker, seconds: float = 180
) -> None:
    """Until the group's committed offsets cover `total` records; the worker must stay up."""

    async def done() -> bool:
        assert worker.alive(), worker.log()
        return await committed_total(settings, group) >= total

    await eventually(done, seconds, f"{total} records committed")


async def trend_events(settings: KafkaSettings) -> list[dict[str, Any]]:
    return [decode_trend(m.value) for m in await read_topic(settings, TRENDS)]


async def committed_total(settings: KafkaSettings, group: str) -> int:
    offsets = await committed_offsets(settings, group)
    return sum(offset for offset in offsets.values() if offset > 0)


async def eventually(
    check: Callable[[], Awaitable[bool]], seconds: float = 60.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")
        await asyncio.sleep(0.25)


def expected_rows(records: list[RawRecord], users: set[str]) -> set[tuple[str, str, str, bytes]]:
    """(table, user, id, content_hash) the database must hold: newest fetched_at per key, the
    later one on a tie (records are in production order per user)."""
    from schemas.records import content_hash

    newest: dict[tuple[str, str, str], RawRecord] = {}
    for record in records:
        if record.user_id not in users:
            continue
        ident = (record.data_type, record.user_id, document_key(record.data_type, record.document))
        kept = newest.get(ident)
        if kept is None or record.fetched_at >= kept.fetched_at:
            newest[ident] = record
    return {(t, u, k, content_hash(r.document)) for (t, u, k), r in newest.items()}


async def stored_rows(pool: asyncpg.Pool, tables: set[str]) -> set[tuple[str, str, str, bytes]]:
    rows: set[tuple[str, str, str, bytes]] = set()
    for table in sorted(tables):
        for r in await pool.fetch(f"SELECT user_id::text, id, content_hash FROM {table}"):
            rows.add((table, r[0], r[1], bytes(r[2])))
    return rows


async def stored_trends(pool: asyncpg.Pool) -> set[tuple[Any, ...]]:
    from schemas.tables.trends import TREND_FIELDS

    rows = await pool.fetch(
        f"SELECT user_id::text, metric, day, {', '.join(TREND_FIELDS)} FROM daily_trends"
    )
    return {tuple(r) for r in rows}


def day(n: int) -> date:
    return date(2025, 9, 1) + timedelta(days=n)


@dataclass
class Worker:
    """`python -m stream_processor worker` in a subprocess; start, kill -9, stop."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self.starts += 1
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stream_processor", "worker"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self._wait_started()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def _wait_started(self, seconds: float = 60.0) -> None:
        """A graceful stop is of a worker that has started (a SIGTERM while the interpreter is
        still importing ends any process by the signal)."""
        deadline = time.monotonic() + seconds
        while self.process is not None and self.process.poll() is None:
            started = self.log_path.read_text(errors="replace").count('"processor started"')
            if started >= self.starts:
                return
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


DAILY_TYPES = (
    "daily_sleep",
    "sleep",
    "daily_activity",
    "daily_readiness",
    "heartrate",
    "daily_spo2",
    "daily_stress",
)


def history(users: list[str], days: int, seed: int = 0) -> list[RawRecord]:
    """A realistic stream for some users: every daily type per day, each document delivered
    twice (the collector's overlap window), some revised later, some stale copies arriving late."""
    import random

    rng = random.Random(seed)
    out: list[RawRecord] = []
    for n in range(days):
        for u_index, user in enumerate(users):
            for data_type in DAILY_TYPES:
                first = raw(user, data_type, day(n), seed=u_index)
                out += [first, first]
                if rng.random() < 0.15:
                    doc = example_document(data_type, day=day(n), seed=u_index + 100)
                    if "id" in first.document:
                        doc["id"] = first.document["id"]
                    later = FETCHED + timedelta(days=1)
                    out.append(raw(user, data_type, day(n), document=doc, fetched_at=later))
                    stale = example_document(data_type, day=day(n), seed=u_index + 200)
                    if "id" in first.document:
                        stale["id"] = first.document["id"]
                    out.append(raw(user, data_type, day(n), document=stale))
    return out


def run_replay(env: dict[str, str], *args: str) -> dict[str, Any]:
    import json

    result = subprocess.run(
        [sys.executable, "-m", "stream_processor", "replay", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    summary: dict[str, Any] = json.loads(result.stdout.decode().strip().splitlines()[-1])
    return summary


async def empty_data_tables(pool: asyncpg.Pool) -> None:
    from schemas.tables.documents import COLUMNS

    await pool.execute(f"TRUNCATE daily_trends, {', '.join(COLUMNS)}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PrivateBroker:
    """A Kafka broker of one test's own, started by scripts/localstack.py with other ports and
    another state directory (the jars come from the shared cache): stopping and restarting it
    disturbs nothing else."""

    state: Path
    port: int = 0

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self._env = {
            **os.environ,
            "MYHEALTH_STATE_DIR": str(self.state),
            "MYHEALTH_CACHE_DIR": str(ROOT / ".local" / "cache"),
            "LOCAL_KAFKA_PORT": str(self.port),
            "LOCAL_KAFKA_CONTROLLER_PORT": str(free_port()),
            "LOCAL_KAFKA_SCRAM_PORT": str(free_port()),
            "LOCAL_KAFKA_HEAP": "-Xms128m -Xmx384m",
        }

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _localstack(self, function: str) -> None:
        code = f"import localstack; localstack.{function}()"
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT / "scripts",
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=180,
            check=True,
        )

    def up(self) -> None:
        self._localstack("kafka_up")

    def down(self) -> None:
        self._localstack("kafka_down")
