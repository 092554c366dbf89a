"""Every database call the gateway makes is timed in gateway_db_query_duration_seconds, labelled
with the function that issued it: pool calls, pooled connections, transactions and cursors."""

from __future__ import annotations

import re
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from gateway.db import OTHER
from gateway.metrics import render_metrics
from tests.gateway.factories import days_back, insert_days, new_user

METRIC = "gateway_db_query_duration_seconds"


def _count(query: str) -> float:
    return REGISTRY.get_sample_value(f"{METRIC}_count", {"query": query}) or 0.0


def _labels() -> Iterator[str]:
    for family in REGISTRY.collect():
        if family.name == METRIC:
            for sample in family.samples:
                yield sample.labels["query"]


async def test_queries_are_timed_by_the_function_that_issued_them(
    client: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    names = (
        "create_user",  # pool.fetchrow, from gateway.repositories.users
        "delayed_until",  # pool.fetchval, through the login throttle
        "find_by_login",
        "list_documents",
        "export_rows",  # a server-side cursor in a read-only transaction
        "export_trends",
        "connection_status",  # oura_connection, called by the gateway with its pool
        "delete_account",  # a pooled connection inside a transaction (gateway.erasure)
    )
    before = {name: _count(name) for name in names}
    user_id, headers = await new_user(client)
    await insert_days(db, user_id, "daily_sleep", days_back(3))
    assert (await client.get("/api/sleep", headers=headers)).status_code == 200
    assert (await client.get("/api/export", headers=headers)).status_code == 200
    assert (await client.get("/api/connection", headers=headers)).status_code == 200
    assert (await client.delete("/api/me", headers=headers)).status_code == 202

    grown = {name for name in names if _count(name) > before[name]}
    assert grown == set(names)


async def test_labels_are_function_names_never_sql(client: httpx.AsyncClient) -> None:
    await new_user(client)
    labels = set(_labels())
    assert labels
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", label) for label in labels), labels


async def test_failed_queries_and_foreign_callers_are_counted(app: FastAPI) -> None:
    pool = app.state.accounts.pool
    before = _count(OTHER)
    assert await pool.fetchval("SELECT 1") == 1
    with pytest.raises(asyncpg.PostgresSyntaxError):
        await pool.execute("SELEC 1")
    async with pool.acquire() as conn, conn.transaction():
        assert await conn.fetchval("SELECT 2") == 2
    conn = await pool.acquire()
    try:
        async with conn.transaction():
            assert [r[0] async for r in conn.cursor("SELECT generate_series(1, 3)")] == [1, 2, 3]
            assert [r async for r in conn.cursor("SELECT 1 WHERE false")] == []
    finally:
        await pool.release(conn)
    assert _count(OTHER) == before + 5


async def test_metrics_endpoint_exports_query_latency_and_pool_limit(
    client: httpx.AsyncClient,
) -> None:
    await new_user(client)
    text = render_metrics()[0].decode()
    assert f'{METRIC}_bucket{{le="0.0005",query="create_user"}}' in text
    assert "gateway_db_pool_connections_max" in text
