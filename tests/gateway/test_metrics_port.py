"""Metrics on their own port, without user ids, without a query per scrape and without the
collector's families: `python -m gateway` as the real process on the real database; the API port
has no /metrics."""

from __future__ import annotations

import os
import re
from pathlib import Path

import asyncpg
import httpx
from cryptography.fernet import Fernet

from schemas.settings import DatabaseSettings
from tests.gateway.factories import new_user
from tests.gateway.processes import free_port, running

REFRESH_QUERIES = 'gateway_db_query_duration_seconds_count{query="refresh_sync_status"}'


def _sample(text: str, series: str) -> float:
    match = re.search(re.escape(series) + r" ([0-9.e+]+)", text)
    assert match, f"{series} missing"
    return float(match.group(1))


async def test_metrics_have_their_own_port_and_name_no_user(
    db: asyncpg.Pool, db_settings: DatabaseSettings, tmp_path: Path
) -> None:
    api_port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "DB_NAME": db_settings.name,
        "JWT_SECRET": "metrics-test-" + Fernet.generate_key().decode(),
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(api_port),
        "GATEWAY_METRICS_PORT": str(metrics_port),
        # Read once at start, then not again during the test: scrapes must not query.
        "GATEWAY_SYNC_STATUS_INTERVAL_S": "3600",
    }
    api, metrics = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{metrics_port}"
    # Two users, one of whom has had no successful sleep sync for 30 hours.
    users = [
        await db.fetchval(
            "INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id",
            f"sync-{n}-{api_port}@example.com",
        )
        for n in range(2)
    ]
    for user_id, hours in zip(users, (30, 1), strict=True):
        await db.execute(
            "INSERT INTO collection_cursors (user_id, data_type, last_success_at) "
            "VALUES ($1, 'sleep', now() - make_interval(hours => $2))",
            user_id,
            hours,
        )
    with running(["-m", "gateway"], env, tmp_path / "gateway.log", f"{api}/health"):
        async with httpx.AsyncClient(base_url=api, timeout=30) as client:
            _, headers = await new_user(client)
            assert (await client.get("/api/me", headers=headers)).status_code == 200
            assert (await client.get(f"{api}/metrics")).status_code == 404
            first = (await client.get(f"{metrics}/metrics")).text
            for _ in range(20):
                last = (await client.get(f"{metrics}/metrics")).text
    assert _sample(last, 'myhealth_sync_stale_cursors{data_type="sleep"}') == 1
    assert 'gateway_requests_total{method="GET",route="/api/me",status="200"}' in last
    # The startup refresh's queries, and not one more for 21 scrapes.
    assert _sample(first, REFRESH_QUERIES) == _sample(last, REFRESH_QUERIES) > 0
    for user_id in users:
        assert str(user_id) not in last
    assert "user_id=" not in last
    # The collector's families belong to the collector's own /metrics; token refreshes are
    # oura_connection's, which the gateway shares.
    assert re.findall(r"^# TYPE (collector_\w+)", last, re.MULTILINE) == []
    assert "# TYPE oura_token_refreshes_total counter" in last
