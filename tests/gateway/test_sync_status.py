"""Sync status metrics read from PostgreSQL: the oldest last success and the users 26 hours
behind per data type (no user ids), cursors by status, connections by status."""

from __future__ import annotations

import asyncpg
from prometheus_client import REGISTRY, generate_latest

from gateway.sync_status import refresh_sync_status
from tests.observability.seed import seed_demo


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_sync_status_is_exported_from_the_database(db: asyncpg.Pool) -> None:
    users = await seed_demo(db, days=3)
    await refresh_sync_status(db, min_interval_s=0)
    oldest = await db.fetchval(
        "SELECT extract(epoch from min(last_success_at))::float8 FROM collection_cursors "
        "WHERE data_type = 'sleep'"
    )
    assert _value("myhealth_sync_oldest_success_timestamp_seconds", data_type="sleep") == oldest
    stale = await db.fetchval(
        "SELECT count(*) FROM collection_cursors WHERE data_type = 'sleep' "
        "AND last_success_at < now() - interval '26 hours'"
    )
    assert _value("myhealth_sync_stale_cursors", data_type="sleep") == stale
    assert _value("myhealth_sync_cursors", status="failed") == 1
    assert _value("myhealth_sync_cursors", status="not_granted") == 1
    assert _value("myhealth_oura_connections", status="needs_reauth") == 1
    assert _value("myhealth_oura_connections", status="active") == 1
    assert _value("myhealth_oura_connections", status="revoked") == 0

    # A user 30 hours behind is counted, never named.
    await db.execute(
        "UPDATE collection_cursors SET last_success_at = now() - interval '30 hours' "
        "WHERE user_id = $1 AND data_type = 'sleep'",
        users["demo"],
    )
    await refresh_sync_status(db, min_interval_s=0)
    assert _value("myhealth_sync_stale_cursors", data_type="sleep") == stale + 1
    exported = generate_latest(REGISTRY).decode()
    assert all(str(user_id) not in exported for user_id in users.values())

    await db.execute("DELETE FROM collection_cursors")
    await refresh_sync_status(db, min_interval_s=0)
    assert _value("myhealth_sync_stale_cursors", data_type="sleep") is None, "type still exported"


async def test_refresh_is_rate_limited(db: asyncpg.Pool) -> None:
    await refresh_sync_status(db, min_interval_s=0)
    before = _value("myhealth_sync_status_refreshed_timestamp_seconds")
    await refresh_sync_status(db, min_interval_s=3600)
    assert _value("myhealth_sync_status_refreshed_timestamp_seconds") == before
