"""Sync status metrics read from PostgreSQL: last success per user and data type, cursors by
status, connections by status."""

from __future__ import annotations

import asyncpg
from prometheus_client import REGISTRY

from collector.sync_status import refresh_sync_status
from tests.observability.seed import seed_demo


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_sync_status_is_exported_from_the_database(db: asyncpg.Pool) -> None:
    users = await seed_demo(db, days=3)
    await refresh_sync_status(db, min_interval_s=0)
    demo, lapsed = str(users["demo"]), str(users["lapsed"])
    last = await db.fetchval(
        "SELECT extract(epoch from last_success_at)::float8 FROM collection_cursors "
        "WHERE user_id = $1 AND data_type = 'sleep'",
        users["demo"],
    )
    name = "myhealth_sync_last_success_timestamp_seconds"
    assert _value(name, user_id=demo, data_type="sleep") == last
    assert _value(name, user_id=lapsed, data_type="daily_spo2") is None  # never succeeded
    assert _value("myhealth_sync_cursors", status="failed") == 1
    assert _value("myhealth_sync_cursors", status="not_granted") == 1
    assert _value("myhealth_oura_connections", status="needs_reauth") == 1
    assert _value("myhealth_oura_connections", status="active") == 1
    assert _value("myhealth_oura_connections", status="revoked") == 0

    await db.execute("DELETE FROM users WHERE id = $1", users["demo"])
    await refresh_sync_status(db, min_interval_s=0)
    assert _value(name, user_id=demo, data_type="sleep") is None, "deleted user still exported"
    assert _value(name, user_id=lapsed, data_type="sleep") is not None


async def test_refresh_is_rate_limited(db: asyncpg.Pool) -> None:
    await refresh_sync_status(db, min_interval_s=0)
    before = _value("myhealth_sync_status_refreshed_timestamp_seconds")
    await refresh_sync_status(db, min_interval_s=3600)
    assert _value("myhealth_sync_status_refreshed_timestamp_seconds") == before
