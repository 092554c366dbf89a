"""Checks the local stack's promises: `up` twice is harmless, `down` leaves no process behind,
and topics and rows written before `down` are still there after the next `up`.

    python scripts/check_stack_lifecycle.py      (make test-stack)
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import localstack  # noqa: E402

MARK = uuid.uuid4().hex
TOPIC = f"lifecycle-check-{MARK[:8]}"


def _our_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    state = str(localstack.STATE)
    return [line for line in out.stdout.splitlines() if state in line and "ps -eo" not in line]


async def _write_marks(env: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    await admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"], acks="all")
    await producer.start()
    await producer.send_and_wait(TOPIC, MARK.encode())
    await producer.stop()
    conn = await _connect(env)
    await conn.execute("CREATE TABLE IF NOT EXISTS lifecycle_check (mark text)")
    await conn.execute("INSERT INTO lifecycle_check VALUES ($1)", MARK)
    await conn.close()


async def _connect(env: dict[str, str]) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=env["DB_HOST"],
        port=int(env["DB_PORT"]),
        user=env["DB_USER"],
        password=env["DB_PASSWORD"],
        database=env["DB_NAME"],
    )


async def _read_marks(env: dict[str, str]) -> tuple[bool, bool]:
    consumer = AIOKafkaConsumer(
        TOPIC, bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"], auto_offset_reset="earliest"
    )
    await consumer.start()
    batch = await consumer.getmany(timeout_ms=10_000)
    await consumer.stop()
    in_kafka = any(m.value == MARK.encode() for msgs in batch.values() for m in msgs)
    conn = await _connect(env)
    in_pg = bool(await conn.fetchval("SELECT count(*) FROM lifecycle_check WHERE mark=$1", MARK))
    await conn.execute("DROP TABLE lifecycle_check")
    await conn.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    await admin.delete_topics([TOPIC])
    await admin.close()
    return in_kafka, in_pg


def main() -> int:
    failures: list[str] = []
    env = localstack.up()
    kafka_pid = (localstack.kafka_dir() / "broker.pid").read_text()
    localstack.up()
    if (localstack.kafka_dir() / "broker.pid").read_text() != kafka_pid:
        failures.append("a second `up` restarted Kafka instead of leaving it alone")
    asyncio.run(_write_marks(env))
    localstack.down()
    leftovers = _our_processes()
    if leftovers:
        failures.append("`down` left processes behind:\n  " + "\n  ".join(leftovers))
    env = localstack.up()
    in_kafka, in_pg = asyncio.run(_read_marks(env))
    if not in_kafka:
        failures.append("a Kafka record written before down/up was gone after it")
    if not in_pg:
        failures.append("a PostgreSQL row written before down/up was gone after it")
    for failure in failures:
        print(f"FAIL: {failure}")  # noqa: T201
    verdict = "FAILED" if failures else "all four checks hold"
    print(f"stack lifecycle: {verdict}")  # noqa: T201
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
