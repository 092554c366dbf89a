"""Backfill: history in chunks, only the gaps, resumable after a failure."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.backfill import run_backfill
from collector.collect import run_daily
from oura_simulator import SimulatorConfig
from schemas.data_types import BY_NAME
from tests.collector.conftest import sim_env
from tests.collector.helpers import TODAY, by_key, connect, read_raw, served

ROOT = Path(__file__).resolve().parents[2]
TYPES = [BY_NAME["daily_sleep"], BY_NAME["heartrate"], BY_NAME["personal_info"]]


@pytest.fixture
def sim_config() -> SimulatorConfig:
    # One page per window, so request counts below count windows.
    return SimulatorConfig(
        users=1, today=TODAY, history_days=400, page_size=50, heartrate_page_size=10_000
    )


async def _covered(db: Any, user_id: Any) -> dict[str, str]:
    rows = await db.fetch(
        "SELECT data_type, covered::text AS covered FROM collection_cursors WHERE user_id = $1",
        user_id,
    )
    return {r["data_type"]: r["covered"] for r in rows}


async def test_backfill_resumes_and_fills_only_gaps(collector, sim, db, topics, cipher) -> None:
    collector.settings.backfill_chunk_days = 30
    collector.settings.heartrate_window_days = 10
    collector.settings.request_concurrency = 1  # chunks in order: the injected fault hits one
    user_id = await connect(db, sim, "demo", cipher)
    users: list[tuple[Any, list[str]]] = [(user_id, [])]
    since = TODAY - timedelta(days=119)
    whole = f"{{[{since},{TODAY + timedelta(days=1)})}}"
    # The daily run already covered the last 10 days.
    assert (await run_daily(collector, today=TODAY, only=TYPES)).exit_code == 0

    # An interrupted backfill: one daily_sleep chunk gets nothing but broken pages.
    sim.simulator.faults.malformed_pages(collector.settings.max_attempts, kind="missing_data")
    first = await run_backfill(collector, users, since, today=TODAY, only=TYPES[:1])
    assert first.exit_code == 1 and len(first.failures) == 1
    assert (await _covered(db, user_id))["daily_sleep"] != whole

    sim.simulator.reset_stats()
    second = await run_backfill(collector, users, since, today=TODAY, only=TYPES)
    assert second.exit_code == 0, second.failures
    requests = sim.simulator.stats()["data_requests"]
    assert requests["daily_sleep"] == 1  # just the one failed 30-day chunk
    assert requests["heartrate"] == 11  # 110 missing days in 10-day windows
    assert requests["personal_info"] == 1  # no date filter: one request covers it all
    assert await _covered(db, user_id) == {t.name: whole for t in TYPES}

    sim.simulator.reset_stats()
    third = await run_backfill(collector, users, since, today=TODAY, only=TYPES)
    assert third.windows == 0 and third.requests == 0
    assert sim.simulator.stats()["data_requests"] == {}

    records = await read_raw(topics, [t.name for t in TYPES])
    for data_type in TYPES:
        got = [r.document for r in records if r.data_type == data_type.name]
        expected = served(sim, "demo", data_type.name, since, TODAY)
        assert by_key(data_type.name, got) == by_key(data_type.name, expected)


async def test_cli_run_and_backfill(sim, db, topics, settings, cipher) -> None:
    user_id = await connect(db, sim, "demo", cipher)
    env = {
        **os.environ,
        **sim_env(settings),
        "KAFKA_TOPIC_PREFIX": topics.topic_prefix,
        "PYTHONPATH": str(ROOT),
    }

    async def cli(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "collector",
            *args,
            env=env,
            cwd=str(ROOT),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    code, out, err = await cli("run", "--types", "daily_sleep,daily_readiness")
    assert code == 0, err
    assert out.startswith("run: ") and "1 users" in out and "0 failed" in out

    since = (TODAY - timedelta(days=40)).isoformat()
    code, out, err = await cli("backfill", "--user", str(user_id), "--since", since)
    assert code == 0, err
    assert "backfill progress" in err  # not a TTY: periodic log lines

    code, out, err = await cli("backfill", "--all", "--since", "2999-01-01")
    assert code == 2 and "in the future" in err and "Traceback" not in err
