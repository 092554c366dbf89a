"""Stream processor throughput against its ceiling and the original design, on the same data.

    python benchmarks/bench_processor.py [--records 200000] [--users 50]

1. Produces N realistic raw records (every data type in the proportions one ring produces them,
   from schemas.examples, many users and days) to raw topics under a private prefix.
2. processor_records_per_s: `python -m stream_processor worker` (the Faust worker, batch
   hand-off) from its first committed batch until the group's committed offsets cover all N
   (everything persisted), with the seconds from process start to that first batch reported
   apart (processor_startup_s); its peak RSS (VmHWM); the CPU time per record of the worker,
   PostgreSQL and the Kafka broker, and how busy the machine was (the rate is bounded by their
   sum over two cores).
   Each run starts from emptied tables, on the same records:
   batch_loop_records_per_s: benchmarks/batch_loop.py, a plain aiokafka getmany loop running the
   same batch code (the reference the Faust worker must keep up with); it alternates with the
   worker --rounds times and the best run of each counts. Then
   processor_stream_records_per_s: the Faust worker with PROCESSOR_FEED=stream (stock
   `noack_take` batches through Faust's per-message path).
3. copy_rows_per_s: the same rows (read back from the topics, decoded untimed) written with
   PostgreSQL COPY into empty copies of the tables: the persistence ceiling.
4. per_record_baseline_per_s: the original design's path, one autocommitted upsert per record,
   on --baseline-records records taken at an even stride over all N, so the sample has the data
   types in the same proportions (the first records read back are all of a few small types).
5. batched_write_rows_per_s: the processor's own document writes and nothing else (no Kafka,
   decoding or trends), one transaction per PROCESSOR_BATCH_SIZE records, on the same rows: what
   the writes alone reach on this machine.
6. replay_records_per_s: `python -m stream_processor replay --from-beginning` into the emptied
   tables.
Figures are merged into benchmarks/results.json. Needs the local stack (make up).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from _shared import merge_results, recreate_database  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

from schemas.data_types import DATA_TYPES  # noqa: E402
from schemas.examples import example_document  # noqa: E402
from schemas.records import RawRecord, encode_raw  # noqa: E402
from schemas.settings import DatabaseSettings, KafkaSettings  # noqa: E402
from schemas.tables.documents import COLUMNS  # noqa: E402
from schemas.topics import (  # noqa: E402
    committed_offsets,
    delete_topics,
    ensure_topics,
    raw_topic,
    registry,
)
from stream_processor.decoding import data_type_for, decode_one  # noqa: E402
from stream_processor.settings import ProcessorSettings  # noqa: E402
from stream_processor.storage.documents import (  # noqa: E402
    DocumentRow,
    copy_record,
    newest_per_key,
    row_columns,
    upsert_documents,
    write_documents,
)

BENCH_DB = "myhealth_bench_processor"
START_DAY = date(2024, 1, 1)
FETCHED = datetime(2026, 1, 1, tzinfo=UTC)
# Documents per user-day, as one Oura ring produces them (occasional types as probabilities).
PER_DAY: dict[str, float] = {
    "daily_sleep": 1,
    "sleep": 1.25,
    "daily_activity": 1,
    "daily_readiness": 1,
    "heartrate": 1,
    "daily_spo2": 1,
    "daily_stress": 1,
    "daily_resilience": 1,
    "daily_cardiovascular_age": 1,
    "sleep_time": 1,
    "workout": 0.4,
    "session": 0.3,
    "enhanced_tag": 0.3,
    "vo2_max": 0.15,
    "rest_mode_period": 0.01,
}
ONCE_PER_USER = ("ring_configuration", "personal_info")


def _day_records(args: tuple[list[str], int]) -> list[tuple[str, bytes, bytes]]:
    users, n = args
    rng = random.Random(n)
    day = START_DAY + timedelta(days=n)
    out = []
    for index, user in enumerate(users):
        kinds = [t for t, p in PER_DAY.items() for _ in range(int(p))]
        kinds += [t for t, p in PER_DAY.items() if rng.random() < p % 1]
        if n == 0:
            kinds += list(ONCE_PER_USER)
        for seed, data_type in enumerate(kinds):
            document = example_document(data_type, day=day, seed=index * 10 + seed)
            record = RawRecord(
                user, data_type, document, FETCHED, f"/v2/usercollection/{data_type}"
            )
            out.append((data_type, user.encode(), encode_raw(record)))
    return out


def generate(users: list[str], records: int) -> Iterator[list[tuple[str, bytes, bytes]]]:
    per_day = len(users) * (sum(PER_DAY.values()))
    days = int(records / per_day) + 2
    with multiprocessing.Pool(max(1, (os.cpu_count() or 1))) as pool:
        yield from pool.imap(_day_records, [(users, n) for n in range(days)], chunksize=2)


async def produce(kafka: KafkaSettings, users: list[str], records: int) -> int:
    producer = AIOKafkaProducer(
        **kafka.client_kwargs(), acks="all", linger_ms=20, max_batch_size=1024 * 1024
    )
    await producer.start()
    sent = 0
    try:
        for chunk in generate(users, records):
            futures = []
            for data_type, key, value in chunk[: records - sent]:
                topic = raw_topic(data_type, kafka.topic_prefix)
                futures.append(await producer.send(topic, value, key=key))
            await asyncio.gather(*futures)
            sent += len(futures)
            if sent >= records:
                break
    finally:
        await producer.stop()
    return sent


async def committed(kafka: KafkaSettings, group: str) -> int:
    return sum(o for o in (await committed_offsets(kafka, group)).values() if o > 0)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


WORKER = (sys.executable, "-m", "stream_processor", "worker")
BATCH_LOOP = (sys.executable, str(ROOT / "benchmarks" / "batch_loop.py"))


def _spawn_worker(command: tuple[str, ...], env: dict[str, str]) -> subprocess.Popen[bytes]:
    with (ROOT / ".local" / "bench_processor_worker.log").open("ab") as log:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _role(pid: int, own: int) -> str | None:
    if pid == own:
        return "worker"
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        if comm == "postgres":
            return "postgres"
        if comm == "java" and b"kafka.Kafka" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return "kafka"
    except OSError:
        pass
    return None


def cpu_seconds(worker: int) -> dict[str, float]:
    """CPU seconds used so far by the worker, PostgreSQL and the Kafka broker, and by the whole
    machine ("busy") next to the time it had ("cores"). PostgreSQL counts its reaped backends
    too (the postmaster's children's time)."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = defaultdict(float)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (role := _role(int(entry.name), worker)) is None:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[role] += sum(int(f) for f in fields[11:15]) / tick
    times = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    used["cores"] = sum(times) / tick
    used["busy"] = (sum(times) - times[3] - times[4]) / tick  # minus idle and iowait
    return used


async def run_worker(
    kafka: KafkaSettings, env: dict[str, str], total: int, command: tuple[str, ...] = WORKER
) -> tuple[float, float, dict[str, float], float]:
    """Rate, peak RSS, CPU microseconds per record by process (see cpu_seconds), and the
    seconds from process start to its first committed batch.

    The rate counts from that first commit to the last: what the process sustains once it
    consumes. Starting up (imports, joining the group, Faust's services) is a fixed cost of a
    few seconds, reported on its own: in a rate over one 30-second backlog it would weigh
    several percent and say nothing about throughput."""
    group = f"bench-{uuid.uuid4().hex[:8]}"
    env = {**env, "PROCESSOR_GROUP_ID": group}
    started = time.perf_counter()
    process = _spawn_worker(command, env)
    before = cpu_seconds(process.pid)
    first: tuple[float, int] | None = None
    try:
        while (done := await committed(kafka, group)) < total:
            if process.poll() is not None:
                raise RuntimeError("worker exited; see .local/bench_processor_worker.log")
            if first is None and done > 0:
                first = (time.perf_counter(), done)
            await asyncio.sleep(0.1)
        finished = time.perf_counter()
        rss = peak_rss_mb(process.pid)
        after = cpu_seconds(process.pid)
    finally:
        process.terminate()
        process.wait(60)
    cpu = {role: 1e6 * (after[role] - before.get(role, 0.0)) / total for role in after}
    if first is None:  # everything landed in the first commit seen
        return total / (finished - started), rss, cpu, finished - started
    return (total - first[1]) / (finished - first[0]), rss, cpu, first[0] - started


async def read_rows(kafka: KafkaSettings) -> list[tuple[str, DocumentRow]]:
    """(data_type, DocumentRow) of every raw record, decoded as the processor decodes them,
    outside any timing."""
    consumer = AIOKafkaConsumer(
        *(raw_topic(t.name, kafka.topic_prefix) for t in DATA_TYPES),
        **kafka.client_kwargs(),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    rows: list[tuple[str, DocumentRow]] = []
    try:
        while batch := await consumer.getmany(timeout_ms=2000, max_records=5000):
            for messages in batch.values():
                for message in messages:
                    row = decode_one(message.topic, message.value, kafka.topic_prefix)
                    if not isinstance(row, DocumentRow):
                        raise RuntimeError(f"a benchmark record was refused: {row}")
                    rows.append((data_type_for(message.topic, kafka.topic_prefix), row))
    finally:
        await consumer.stop()
    return rows


def _copy_tuple(data_type: str, row: DocumentRow) -> tuple[Any, ...]:
    record = copy_record(data_type, row)
    if record is None:
        raise RuntimeError(f"a benchmark {data_type} row has values COPY cannot take: {row.key}")
    return record


async def measure_copy(pool: asyncpg.Pool, rows: list[tuple[str, DocumentRow]]) -> float:
    by_type: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for data_type, row in rows:
        by_type[data_type].append(_copy_tuple(data_type, row))
    for table in COLUMNS:
        await pool.execute(f"DROP TABLE IF EXISTS copy_{table}")
        await pool.execute(f"CREATE TABLE copy_{table} (LIKE {table} INCLUDING ALL)")
    total = sum(len(v) for v in by_type.values())
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for data_type, tuples in by_type.items():
            for i in range(0, len(tuples), 5000):
                await conn.copy_records_to_table(
                    f"copy_{data_type}",
                    records=tuples[i : i + 5000],
                    columns=row_columns(data_type),
                )
    seconds = time.perf_counter() - started
    for table in COLUMNS:
        await pool.execute(f"DROP TABLE copy_{table}")
    return total / seconds


def spread_sample(rows: list[Any], size: int) -> list[Any]:
    """`size` rows at an even stride over all of them: the same mix of data types."""
    if size >= len(rows):
        return rows
    step = len(rows) / size
    return [rows[int(i * step)] for i in range(size)]


async def measure_per_record(pool: asyncpg.Pool, rows: list[Any]) -> float:
    await empty(pool)
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for data_type, row in rows:
            await upsert_documents(conn, data_type, [row])  # autocommit: one statement each
    return len(rows) / (time.perf_counter() - started)


async def measure_batched_write(pool: asyncpg.Pool, rows: list[Any], batch: int) -> float:
    """The processor's write path alone: per batch, one transaction, one write per type."""
    await empty(pool)
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for start in range(0, len(rows), batch):
            by_type: dict[str, list[DocumentRow]] = defaultdict(list)
            for data_type, row in rows[start : start + batch]:
                by_type[data_type].append(row)
            async with conn.transaction():
                for data_type, typed_rows in by_type.items():
                    await write_documents(conn, data_type, newest_per_key(typed_rows))
    return len(rows) / (time.perf_counter() - started)


async def empty(pool: asyncpg.Pool) -> None:
    await pool.execute(f"TRUNCATE daily_trends, {', '.join(COLUMNS)}")


async def prepare_database(
    base: DatabaseSettings, users: int
) -> tuple[DatabaseSettings, list[str]]:
    settings = await recreate_database(base, BENCH_DB)
    conn = await asyncpg.connect(**settings.asyncpg_kwargs())
    try:
        ids = [
            await conn.fetchval(
                "INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id::text",
                f"bench{i}@example.test",
            )
            for i in range(users)
        ]
    finally:
        await conn.close()
    return settings, ids


async def main(args: argparse.Namespace) -> dict[str, Any]:
    kafka = KafkaSettings().model_copy(update={"topic_prefix": f"bench{uuid.uuid4().hex[:6]}."})
    db, users = await prepare_database(DatabaseSettings(), args.users)
    specs = registry(kafka.topic_prefix)
    await ensure_topics(kafka, specs)
    pool = await asyncpg.create_pool(**db.asyncpg_kwargs(), min_size=1, max_size=2)
    assert pool is not None
    env = {
        **os.environ,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "DB_NAME": BENCH_DB,
        "PROCESSOR_METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    try:
        print(f"producing {args.records} records for {args.users} users ...", flush=True)
        started = time.perf_counter()
        total = await produce(kafka, users, args.records)
        print(f"produced {total} in {time.perf_counter() - started:.0f}s", flush=True)

        # The Faust worker and the plain loop alternate A B B A …, --rounds times each, from
        # emptied tables, and the best run of each counts: the machine is shared, and load that
        # comes and goes (or drifts) must not decide the ratio between them.
        processor_rate, loop_rate, rss, loop_rss, cpu, loop_cpu = 0.0, 0.0, 0.0, 0.0, {}, {}
        processor_startup = loop_startup = 0.0
        order = [(WORKER, BATCH_LOOP), (BATCH_LOOP, WORKER)] * args.rounds
        for command in [c for pair in order[: args.rounds] for c in pair]:
            await empty(pool)
            rate, peak, used, startup = await run_worker(kafka, env, total, command)
            if command is WORKER:
                print(f"processor: {rate:.0f} records/s, peak RSS {peak:.0f} MB", flush=True)
                rss = max(rss, peak)
                if rate > processor_rate:
                    processor_rate, cpu, processor_startup = rate, used, startup
            else:
                print(f"batch loop: {rate:.0f} records/s, peak RSS {peak:.0f} MB", flush=True)
                loop_rss = max(loop_rss, peak)
                if rate > loop_rate:
                    loop_rate, loop_cpu, loop_startup = rate, used, startup
        print(f"CPU us per record: {json.dumps({k: round(v) for k, v in cpu.items()})}", flush=True)
        await empty(pool)
        stream_env = {**env, "PROCESSOR_FEED": "stream"}
        stream_rate, stream_rss, _, _ = await run_worker(kafka, stream_env, total)
        print(f"processor, stream feed: {stream_rate:.0f} records/s", flush=True)
        rows = await read_rows(kafka)
        copy_rate = await measure_copy(pool, rows)
        print(f"COPY: {copy_rate:.0f} rows/s ({len(rows)} rows)", flush=True)
        sample = spread_sample(rows, args.baseline_records)
        baseline = await measure_per_record(pool, sample)
        print(f"per-record upsert: {baseline:.0f} records/s ({len(sample)} records)", flush=True)
        batched = await measure_batched_write(pool, rows, ProcessorSettings().batch_size)
        print(f"batched writes alone: {batched:.0f} rows/s", flush=True)
        baseline_n = len(sample)
        del rows, sample  # hundreds of MB of documents

        await empty(pool)
        replay = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "stream_processor", "replay", "--from-beginning"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=True,
        )
        summary = json.loads(replay.stdout.decode().strip().splitlines()[-1])
        print(f"replay: {summary['records_per_s']:.0f} records/s", flush=True)
    finally:
        await pool.close()
        await delete_topics(kafka, [s.name for s in specs])
    return {
        "processor_records_per_s": round(processor_rate, 1),
        "batch_loop_records_per_s": round(loop_rate, 1),
        "processor_vs_batch_loop": round(processor_rate / loop_rate, 3),
        "processor_stream_records_per_s": round(stream_rate, 1),
        "processor_stream_vs_batch_loop": round(stream_rate / loop_rate, 3),
        "processor_stream_peak_rss_mb": round(stream_rss, 1),
        "batch_loop_peak_rss_mb": round(loop_rss, 1),
        "copy_rows_per_s": round(copy_rate, 1),
        "per_record_baseline_per_s": round(baseline, 1),
        "batched_write_rows_per_s": round(batched, 1),
        "replay_records_per_s": round(summary["records_per_s"], 1),
        "processor_peak_rss_mb": round(rss, 1),
        "processor_cpu_us_per_record_worker": round(cpu["worker"], 1),
        "batch_loop_cpu_us_per_record_worker": round(loop_cpu["worker"], 1),
        "processor_startup_s": round(processor_startup, 2),
        "batch_loop_startup_s": round(loop_startup, 2),
        "processor_cpu_us_per_record_postgres": round(cpu["postgres"], 1),
        "processor_cpu_us_per_record_kafka": round(cpu["kafka"], 1),
        "processor_machine_busy": round(cpu["busy"] / cpu["cores"], 3),
        "processor_vs_copy": round(processor_rate / copy_rate, 3),
        "processor_vs_per_record": round(processor_rate / baseline, 2),
        "per_record_baseline_records": baseline_n,
        "processor_bench_records": total,
        "processor_bench_rounds": args.rounds,
        "processor_bench_users": args.users,
        "processor_bench_measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--baseline-records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    figures = asyncio.run(main(parser.parse_args()))
    merge_results(figures)
    print(json.dumps(figures, indent=2))
