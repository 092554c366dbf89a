"""Freshness: from a record's publication by the collector to its visibility through the gateway.

    python benchmarks/bench_freshness.py [--rate 20] [--seconds 30]

Runs the real stream processor and gateway (subprocesses) on private topics and a private
database, registers a user through the gateway, then publishes daily_sleep documents with the
collector's own publisher at a steady rate (one record per tick, each for a new day). A poller
asks the gateway for the user's sleep every 20 ms and notes when each document first appears.
freshness = first seen through the gateway minus publisher acknowledged (acks=all). Reports p50,
p95 and max into benchmarks/results.json. Goal: freshness_p95_ms <= 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from _shared import (  # noqa: E402
    free_port,
    merge_results,
    recreate_database,
    start_module,
    stop,
)
from cryptography.fernet import Fernet  # noqa: E402

from collector.publisher import RawPublisher  # noqa: E402
from schemas.examples import example_document  # noqa: E402
from schemas.settings import DatabaseSettings, KafkaSettings  # noqa: E402
from schemas.topics import delete_topics, ensure_topics, registry  # noqa: E402

BENCH_DB = "myhealth_bench_freshness"
FIRST_DAY = date(2020, 1, 1)


async def _register(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    email, password = f"fresh-{uuid.uuid4().hex[:6]}@example.org", "freshness-bench-2026"
    await client.post("/api/register", json={"email": email, "password": password})
    r = await client.post("/api/login", json={"email": email, "password": password})
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return (await client.get("/api/me", headers=headers)).json()["id"], headers


async def _measure(args: argparse.Namespace, kafka: KafkaSettings, gateway: str) -> list[float]:
    published: dict[str, float] = {}
    seen: dict[str, float] = {}
    total = int(args.rate * args.seconds)
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as client:
        user_id, headers = await _register(client)

        async def poll() -> None:
            while len(seen) < total:
                # The newest days only: what was published in the last few seconds.
                newest = FIRST_DAY + timedelta(days=len(published))
                window = {
                    "start_date": (newest - timedelta(days=60)).isoformat(),
                    "end_date": (newest + timedelta(days=1)).isoformat(),
                    "limit": 500,
                }
                r = await client.get("/api/sleep", params=window, headers=headers)
                r.raise_for_status()
                now = time.monotonic()
                for row in r.json()["data"]:
                    seen.setdefault(row["id"], now)
                await asyncio.sleep(0.02)

        async def publish() -> None:
            async with RawPublisher(kafka) as publisher:
                for i in range(total):
                    tick = time.monotonic()
                    doc = example_document("daily_sleep", day=FIRST_DAY + timedelta(days=i), seed=i)
                    await publisher.publish(
                        user_id,
                        "daily_sleep",
                        [doc],
                        fetched_at=datetime.now(UTC),
                        endpoint="/v2/usercollection/daily_sleep",
                    )
                    published[doc["id"]] = time.monotonic()
                    await asyncio.sleep(max(0.0, 1 / args.rate - (time.monotonic() - tick)))

        poller = asyncio.create_task(poll())
        await publish()
        await asyncio.wait_for(poller, timeout=60)
    return [(seen[i] - published[i]) * 1000 for i in published]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    base = DatabaseSettings()
    await recreate_database(base, BENCH_DB)
    prefix = f"fresh{uuid.uuid4().hex[:6]}."
    kafka = KafkaSettings().model_copy(update={"topic_prefix": prefix})
    await ensure_topics(kafka, registry(prefix))
    ports = {"gateway": free_port(), "processor": free_port()}
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "GATEWAY_METRICS_PORT": "0",
        "DB_NAME": BENCH_DB,
        "KAFKA_TOPIC_PREFIX": prefix,
        "PROCESSOR_GROUP_ID": f"freshness-{prefix}",
        "PROCESSOR_METRICS_PORT": str(ports["processor"]),
        "GATEWAY_PORT": str(ports["gateway"]),
        "GATEWAY_HOST": "127.0.0.1",
        "JWT_SECRET": "freshness-bench-" + "x" * 32,
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "LOG_LEVEL": "WARNING",
    }
    logs = ROOT / "benchmarks" / "out"
    logs.mkdir(parents=True, exist_ok=True)
    procs = [
        start_module("freshness-processor", ["stream_processor", "worker"], env, logs),
        start_module("freshness-gateway", ["gateway"], env, logs),
    ]
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() < deadline:
                try:
                    if (await client.get(f"{gateway}/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.3)
        await asyncio.sleep(3)  # let the worker join its group before the clock starts
        latencies = await _measure(args, kafka, gateway)
    finally:
        for proc in procs:
            stop(proc)
        await delete_topics(kafka, [s.name for s in registry(prefix)])
    latencies.sort()
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    return {
        "freshness_p50_ms": round(statistics.median(latencies), 1),
        "freshness_p95_ms": round(p95, 1),
        "freshness_max_ms": round(latencies[-1], 1),
        "freshness_records": len(latencies),
        "freshness_rate_per_s": args.rate,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0, help="records per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    figures = asyncio.run(run(parser.parse_args()))
    merge_results(figures)
    print(json.dumps(figures, indent=2))
    return 0 if figures["freshness_p95_ms"] <= 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
