"""Every SQL query of every provisioned dashboard runs, as Grafana's read-only role, on seeded
data, after the same interpolation Grafana applies, and returns what its panel needs."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from schemas.settings import DatabaseSettings
from scripts.dashboards import DASHBOARD_DIR, render
from scripts.dashboards.__main__ import main as generate
from tests.observability.grafana_sql import (
    SqlQuery,
    TimeRange,
    expand_macros,
    interpolate,
    interpolate_variables,
    rfc3339nano,
    sql_queries,
)
from tests.observability.seed import seed_demo

READER = "grafana_reader"
NUMERIC = {"int2", "int4", "int8", "float4", "float8", "numeric"}
TIME = {"timestamp", "timestamptz", "date", *NUMERIC}


def _dashboards() -> dict[str, dict[str, Any]]:
    return {
        p.name: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(DASHBOARD_DIR.glob("*.json"))
    }


QUERIES = [q for name, d in _dashboards().items() for q in sql_queries(name, d)]


def test_committed_dashboards_are_generated() -> None:
    assert generate(["--check"]) == 0, "run: .venv/bin/python -m scripts.dashboards"
    assert set(_dashboards()) == set(render())


def test_every_dashboard_has_sql_and_the_user_variable_where_needed() -> None:
    for name, dashboard in _dashboards().items():
        text = json.dumps(dashboard)
        variables = {v["name"] for v in dashboard["templating"]["list"]}
        if "$user" in text:
            assert "user" in variables, name
    assert len(QUERIES) > 40


def test_interpolation_matches_grafana() -> None:
    window = TimeRange(
        datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    )
    assert rfc3339nano(window.start) == "2026-01-02T03:04:05.12Z"
    assert (
        expand_macros("WHERE $__timeFilter(day) AND x > $__timeFrom()", window, timedelta(hours=1))
        == "WHERE day BETWEEN '2026-01-02T03:04:05.12Z' AND '2026-02-01T00:00:00Z' "
        "AND x > '2026-01-02T03:04:05.12Z'"
    )
    assert (
        expand_macros("SELECT $__timeGroupAlias(t, '1h'), $__timeGroup(t, 1d)", window, timedelta())
        == 'SELECT floor(extract(epoch from t)/3600)*3600 AS "time", '
        "floor(extract(epoch from t)/86400)*86400"
    )
    assert interpolate_variables("a = '$user' OR b = '${user}'", {"user": "o'k"}) == (
        "a = 'o''k' OR b = 'o''k'"
    )
    assert interpolate_variables("a IN ($users)", {"users": ["x", "y"]}) == "a IN ('x','y')"
    with pytest.raises(ValueError, match="uninterpolated"):
        interpolate("SELECT $missing", {}, window)


@pytest.fixture
async def reader(db: asyncpg.Pool, db_settings: DatabaseSettings) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the seeded test database logged in as Grafana's role (scripts/localstack.py
    creates it with the password below; the migrations grant it what it may read)."""
    kwargs = db_settings.asyncpg_kwargs()
    kwargs.update(user=READER, password=os.environ.get("GRAFANA_DB_PASSWORD", "grafana-local"))
    pool = await asyncpg.create_pool(**kwargs, min_size=1, max_size=2)
    assert pool is not None
    yield pool
    await pool.close()


@pytest.fixture
async def seeded(db: asyncpg.Pool) -> dict[str, str]:
    users = await seed_demo(db)
    return {name: str(user_id) for name, user_id in users.items()}


async def test_reader_is_read_only_and_cannot_see_secrets(reader: asyncpg.Pool, seeded) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await reader.fetch("SELECT access_token_ciphertext FROM oauth_tokens")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await reader.fetch("SELECT password_hash FROM users")
    with pytest.raises(asyncpg.PostgresError):
        await reader.execute("DELETE FROM daily_trends")


@pytest.mark.parametrize("query", QUERIES, ids=[q.id for q in QUERIES])
async def test_sql_query_returns_what_its_panel_needs(
    query: SqlQuery, reader: asyncpg.Pool, seeded: dict[str, str]
) -> None:
    sql = interpolate(query.sql, {"user": seeded["demo"]}, TimeRange.last(90))
    async with reader.acquire() as conn:
        statement = await conn.prepare(sql)
        columns = {a.name: a.type.name for a in statement.get_attributes()}
        rows = await statement.fetch()
    assert rows, f"no rows for {query.id}:\n{sql}"
    if query.format == "variable":
        assert {"__text", "__value"} <= set(columns)
        assert seeded["demo"] in {r["__value"] for r in rows}
    elif query.format == "annotation":
        assert {"time", "text"} <= set(columns) and columns["time"] in TIME
        assert all(r["text"] for r in rows), "annotation without text"
    elif query.format == "time_series":
        assert columns.get("time") in TIME, f"time_series needs a time column: {columns}"
        values = {n: t for n, t in columns.items() if n != "time"}
        assert values and set(values.values()) <= NUMERIC, f"non-numeric series: {values}"
        _assert_every_column_has_data(rows, values, query)
    else:
        missing = set(query.columns) - set(columns)
        assert not missing, f"overrides name columns the query lacks: {missing}"
        if query.panel_type in ("stat", "bargauge"):
            _assert_every_column_has_data(rows, columns, query)


def _assert_every_column_has_data(rows, columns, query: SqlQuery) -> None:
    empty = [name for name in columns if all(r[name] is None for r in rows)]
    assert not empty, f"{query.id}: columns without any value on seeded data: {empty}"


async def test_time_filter_excludes_days_outside_the_range(
    reader: asyncpg.Pool, seeded: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    window = TimeRange(now - timedelta(days=10), now - timedelta(days=5))
    sql = interpolate(
        "SELECT count(*) FROM daily_sleep WHERE user_id = '$user' AND $__timeFilter(day)",
        {"user": seeded["demo"]},
        window,
    )
    # PostgreSQL reads both bounds as dates against a date column: both end days count.
    assert await reader.fetchval(sql) == 6
