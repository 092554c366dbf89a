"""Collector benchmarks against the Oura simulator (its own process, real HTTP), the real broker
and a real PostgreSQL database:

* backfill_user_5y_s: one user, five years, every data type (goal < 15 s);
* daily_run_100_users_s: the daily run for 100 connected users whose cursors stand at
  yesterday (goal < 60 s).

Both stay within Oura's budget (5,000 requests / 5 min), which the collector's limiter and the
simulator both enforce. Figures (with request and document counts) merge into results.json."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from _shared import free_port, merge_results, recreate_database  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from collector.backfill import run_backfill  # noqa: E402
from collector.collect import Collector, run_daily  # noqa: E402
from collector.oura import OuraClient  # noqa: E402
from collector.publisher import RawPublisher  # noqa: E402
from collector.settings import CollectorSettings  # noqa: E402
from oura_connection import OuraOAuthClient, TokenCipher, TokenGrant, store_grant  # noqa: E402
from schemas.data_types import DATA_TYPES  # noqa: E402
from schemas.settings import DatabaseSettings, KafkaSettings  # noqa: E402
from schemas.topics import delete_topics, ensure_topics, registry  # noqa: E402

BENCH_DB = "myhealth_bench_collector"
FIVE_YEARS = 5 * 365 + 1
# Page sizes like Oura's (OURA_API_V2.md §2.1, OBSERVED): a ~6-year daily_readiness query came
# back as 2,141 documents in one page, ~22 h of heart rate (1,101 rows) in one page.
PAGE_SIZE = int(os.environ.get("BENCH_SIM_PAGE_SIZE", "2500"))
HR_PAGE_SIZE = int(os.environ.get("BENCH_SIM_HR_PAGE_SIZE", "1000"))


def _load_stack_env() -> None:
    env_file = ROOT / ".local" / "stack.env"
    if env_file.exists() and not os.environ.get("DB_HOST"):
        for line in env_file.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                os.environ.setdefault(key.strip(), value.strip())


class SimulatorProcess:
    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oura_simulator",
                "--port",
                str(self.port),
                "--log-level",
                "WARNING",
                *args,
            ],
            cwd=ROOT,
            # The simulator starts in development only.
            env={**os.environ, "ENVIRONMENT": "development"},
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.base_url}/_sim/stats", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError("the simulator did not start") from None
                time.sleep(0.1)

    def cpu_s(self) -> float:
        """CPU seconds the simulator process used so far (Linux /proc)."""
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.base_url}/_sim/stats").json())

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(10)


def _settings(sim: SimulatorProcess, key: str) -> CollectorSettings:
    return CollectorSettings(
        oura_client_id="simulator-client",
        oura_client_secret=SecretStr("simulator-secret"),
        oura_api_base_url=sim.base_url,
        oura_token_url=f"{sim.base_url}/oauth/token",
        oura_revoke_url=f"{sim.base_url}/oauth/revoke",
        token_encryption_keys=SecretStr(key),
        collector_metrics_port=0,
    )


async def _connect(pool: Any, sim: SimulatorProcess, cipher: TokenCipher, count: int) -> list[Any]:
    logins = ["demo", *(f"demo{i}" for i in range(2, count + 1))]
    users = []
    async with httpx.AsyncClient() as http:
        for login in logins:
            body = (await http.post(f"{sim.base_url}/_sim/tokens", json={"user": login})).json()
            user_id = await pool.fetchval(
                "INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id",
                f"{login}-{uuid.uuid4().hex[:6]}@bench.example",
            )
            grant = TokenGrant(
                body["access_token"],
                body["refresh_token"],
                datetime.now(UTC) + timedelta(seconds=body["expires_in"]),
                body["scope"].split(),
            )
            await store_grant(pool, user_id, grant, cipher)
            users.append(user_id)
    return users


async def _with_collector(
    sim: SimulatorProcess, pool: Any, kafka: KafkaSettings, key: str, action: Any
) -> Any:
    settings = _settings(sim, key)
    cipher = TokenCipher.from_keys(key)
    client = OuraClient(settings)
    async with RawPublisher(kafka) as publisher, OuraOAuthClient(settings) as oauth:
        try:
            return await action(Collector(settings, pool, client, publisher, oauth, cipher))
        finally:
            await client.aclose()


async def bench_backfill(pool: Any, kafka: KafkaSettings, key: str) -> dict[str, Any]:
    sim = SimulatorProcess(
        "--users",
        "1",
        "--history-days",
        str(FIVE_YEARS + 10),
        "--page-size",
        str(PAGE_SIZE),
        "--heartrate-page-size",
        str(HR_PAGE_SIZE),
    )
    try:
        cipher = TokenCipher.from_keys(key)
        [user_id] = await _connect(pool, sim, cipher, 1)
        today = datetime.now(UTC).date()
        since = today - timedelta(days=FIVE_YEARS - 1)

        async def backfill(collector: Collector) -> Any:
            return await run_backfill(collector, [(user_id, [])], since, today=today)

        started, cpu, sim_cpu = time.perf_counter(), time.process_time(), sim.cpu_s()
        report = await _with_collector(sim, pool, kafka, key, backfill)
        seconds = time.perf_counter() - started
        cpu, sim_cpu = time.process_time() - cpu, sim.cpu_s() - sim_cpu
        assert report.exit_code == 0, report.failures
        return {
            "backfill_user_5y_s": round(seconds, 2),
            "backfill_user_5y_requests": report.requests,
            "backfill_user_5y_documents": report.documents,
            "backfill_user_5y_simulator_page_size": PAGE_SIZE,
            "backfill_user_5y_collector_cpu_s": round(cpu, 2),
            "backfill_user_5y_simulator_cpu_s": round(sim_cpu, 2),
        }
    finally:
        sim.stop()


async def bench_daily(pool: Any, kafka: KafkaSettings, key: str) -> dict[str, Any]:
    sim = SimulatorProcess(
        "--users",
        "100",
        "--history-days",
        "30",
        "--page-size",
        str(PAGE_SIZE),
        "--heartrate-page-size",
        str(HR_PAGE_SIZE),
    )
    try:
        cipher = TokenCipher.from_keys(key)
        await pool.execute("TRUNCATE users CASCADE")
        users = await _connect(pool, sim, cipher, 100)
        today = datetime.now(UTC).date()
        # Yesterday's run happened: every cursor stands at yesterday.
        await pool.executemany(
            "INSERT INTO collection_cursors (user_id, data_type, cursor_day, covered) "
            "VALUES ($1, $2, $3, datemultirange(daterange($3::date - 30, $3::date, '[]')))",
            [(u, t.name, today - timedelta(days=1)) for u in users for t in DATA_TYPES],
        )

        async def daily(collector: Collector) -> Any:
            return await run_daily(collector, today=today)

        started, cpu, sim_cpu = time.perf_counter(), time.process_time(), sim.cpu_s()
        report = await _with_collector(sim, pool, kafka, key, daily)
        seconds = time.perf_counter() - started
        cpu, sim_cpu = time.process_time() - cpu, sim.cpu_s() - sim_cpu
        assert report.exit_code == 0, report.failures[:5]
        return {
            "daily_run_100_users_s": round(seconds, 2),
            "daily_run_100_users_requests": report.requests,
            "daily_run_100_users_documents": report.documents,
            "daily_run_100_users_collector_cpu_s": round(cpu, 2),
            "daily_run_100_users_simulator_cpu_s": round(sim_cpu, 2),
        }
    finally:
        sim.stop()


async def main() -> dict[str, Any]:
    _load_stack_env()
    db = await recreate_database(DatabaseSettings(), BENCH_DB)
    kafka = KafkaSettings().model_copy(update={"topic_prefix": f"bench{uuid.uuid4().hex[:8]}."})
    specs = registry(kafka.topic_prefix)
    await ensure_topics(kafka, specs)
    pool = await asyncpg.create_pool(**db.asyncpg_kwargs(), min_size=2, max_size=10)
    key = TokenCipher.generate_key()
    try:
        results = await bench_backfill(pool, kafka, key)
        print(json.dumps(results), file=sys.stderr, flush=True)
        results.update(await bench_daily(pool, kafka, key))
    finally:
        await pool.close()
        await delete_topics(kafka, [s.name for s in specs])
    return results


if __name__ == "__main__":
    figures = asyncio.run(main())
    merge_results(figures)
    print(json.dumps(figures, indent=2))
