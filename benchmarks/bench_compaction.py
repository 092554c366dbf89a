"""Raw topics as compacted document changelogs: bytes per unique document after repeated runs.

Twenty users, every data type, ten daily runs with the collector's 3-day overlap (the simulator's
clock moves a day between runs), so most documents are published four times. The raw topics are
then compacted by the broker (forced: small segments, a quick cleaner) and read back:

* raw_topic_bytes_per_unique_document: key and value bytes left on the raw topics per unique
  document (heart rate is one document per user and day);
* raw_topic_bytes_vs_one_copy: the same against the encoded size of one copy of each document
  (goal <= 1.2; before compaction the ratio is reported too).

Bytes are counted as records read back, not log files: the record framing Kafka adds is the same
per record before and after, and the figure is about how many copies survive."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from _shared import merge_results, recreate_database  # noqa: E402
from bench_collector import (  # noqa: E402
    PAGE_SIZE,
    SimulatorProcess,
    _connect,
    _load_stack_env,
    _with_collector,
)

from collector.collect import Collector, run_daily  # noqa: E402
from oura_connection import TokenCipher  # noqa: E402
from schemas.data_types import DATA_TYPES  # noqa: E402
from schemas.settings import DatabaseSettings, KafkaSettings  # noqa: E402
from schemas.topics import raw_topic, registry  # noqa: E402
from tests.collector.helpers import read_topics  # noqa: E402
from tests.compaction import (  # noqa: E402
    FILLER_KEY,
    compact_until,
    compacting_topics,
    every_partition,
)

BENCH_DB = "myhealth_bench_compaction"
USERS = 20
RUNS = 10
GOAL = 1.2


async def _sizes(kafka: KafkaSettings) -> tuple[int, int, dict[bytes, int]]:
    """(records, bytes, newest size per key) on the raw topics, fillers left out."""
    names = [raw_topic(t.name, kafka.topic_prefix) for t in DATA_TYPES]
    records = await read_topics(kafka, names, lambda m: m)
    newest: dict[bytes, int] = {}
    total = count = 0
    for m in records:
        if m.key == FILLER_KEY or m.value is None:
            continue
        size = len(m.key) + len(m.value)
        total, count = total + size, count + 1
        newest[m.topic.encode() + b"\0" + m.key] = size
    return count, total, newest


async def main() -> dict[str, Any]:
    _load_stack_env()
    db = await recreate_database(DatabaseSettings(), BENCH_DB)
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    async with compacting_topics(KafkaSettings(), prefix) as kafka:
        return await _measure(db, kafka)


async def _measure(db: DatabaseSettings, kafka: KafkaSettings) -> dict[str, Any]:
    pool = await asyncpg.create_pool(**db.asyncpg_kwargs(), min_size=2, max_size=10)
    key = TokenCipher.generate_key()
    sim = SimulatorProcess(
        "--users", str(USERS), "--history-days", "60", "--page-size", str(PAGE_SIZE)
    )
    try:
        cipher = TokenCipher.from_keys(key)
        await _connect(pool, sim, cipher, USERS)
        today = datetime.now(UTC).date()
        for run in range(RUNS):
            if run:
                async with httpx.AsyncClient() as http:
                    moved = await http.post(f"{sim.base_url}/_sim/clock", json={"advance_s": 86400})
                    moved.raise_for_status()

            async def daily(collector: Collector, day: Any = today + timedelta(days=run)) -> Any:
                return await run_daily(collector, today=day)

            report = await _with_collector(sim, pool, kafka, key, daily)
            assert report.exit_code == 0, report.failures[:5]
        records_before, bytes_before, newest = await _sizes(kafka)
        one_copy = sum(newest.values())

        async def compacted() -> bool:
            count, _, _ = await _sizes(kafka)
            return count == len(newest)

        specs = registry(kafka.topic_prefix)
        raw = [s for s in specs if s.name.startswith(kafka.topic_prefix + "oura.raw.")]
        await compact_until(kafka, every_partition(raw), compacted, within_s=300)
        records_after, bytes_after, _ = await _sizes(kafka)
        ratio = bytes_after / one_copy
        return {
            "raw_topic_runs": RUNS,
            "raw_topic_users": USERS,
            "raw_topic_unique_documents": len(newest),
            "raw_topic_records_before_compaction": records_before,
            "raw_topic_records_after_compaction": records_after,
            "raw_topic_bytes_vs_one_copy_before_compaction": round(bytes_before / one_copy, 3),
            "raw_topic_bytes_per_unique_document": round(bytes_after / len(newest), 1),
            "raw_topic_one_copy_bytes_per_document": round(one_copy / len(newest), 1),
            "raw_topic_bytes_vs_one_copy": round(ratio, 3),
            "raw_topic_bytes_goal": f"<= {GOAL} x one copy: {'met' if ratio <= GOAL else 'MISSED'}",
        }
    finally:
        sim.stop()
        await pool.close()


if __name__ == "__main__":
    figures = asyncio.run(main())
    merge_results(figures)
    print(json.dumps(figures, indent=2))
    sys.exit(0 if figures["raw_topic_bytes_vs_one_copy"] <= GOAL else 1)
