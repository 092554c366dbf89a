"""Seed a demo account's data the way the processor and collector leave it: typed columns plus
the full document, trends, collection cursors and an Oura connection per user."""

from __future__ import annotations

import hashlib
import importlib
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from schemas.examples import example_document

_INITIAL = importlib.import_module("migrations.versions.0001_initial")
TYPED_COLUMNS: dict[str, list[tuple[str, str]]] = _INITIAL.TYPED_COLUMNS

DAILY_TYPES = (
    "daily_sleep",
    "sleep",
    "daily_activity",
    "daily_readiness",
    "daily_spo2",
    "daily_stress",
    "daily_resilience",
    "workout",
)
TREND_METRICS = {
    "daily_sleep.score": ("daily_sleep", "score"),
    "daily_readiness.score": ("daily_readiness", "score"),
    "daily_activity.score": ("daily_activity", "score"),
    "daily_activity.steps": ("daily_activity", "steps"),
    "sleep.average_hrv": ("sleep", "average_hrv"),
    "sleep.lowest_heart_rate": ("sleep", "lowest_heart_rate"),
}


def _value(data_type: str, column: str, kind: str, doc: dict[str, Any]) -> Any:
    renamed = {"sleep_type": "type", "session_type": "type"}
    if data_type == "daily_spo2" and column == "spo2_average":
        raw = (doc.get("spo2_percentage") or {}).get("average")
    elif data_type == "daily_resilience" and column != "level":
        raw = doc["contributors"][column]
    else:
        raw = doc.get(renamed.get(column, column))
    if raw is None:
        return None
    if kind == "timestamptz":
        return datetime.fromisoformat(raw)
    if kind == "date":
        return date.fromisoformat(raw)
    if kind == "integer":
        return int(raw)
    if kind == "double precision":
        return float(raw)
    return raw


async def insert_document(
    conn: Any, user_id: uuid.UUID, data_type: str, doc: dict[str, Any]
) -> None:
    columns = TYPED_COLUMNS[data_type]
    names = ["user_id", "id", "day", *(c for c, _ in columns), "document", "content_hash"]
    names.append("fetched_at")
    text = json.dumps(doc, sort_keys=True)
    values = [
        user_id,
        doc["id"],
        date.fromisoformat(doc["day"]),
        *(_value(data_type, c, k, doc) for c, k in columns),
        text,
        hashlib.sha256(text.encode()).digest(),
        datetime.now(UTC),
    ]
    placeholders = ", ".join(
        f"${i}::jsonb" if n == "document" else f"${i}" for i, n in enumerate(names, 1)
    )
    await conn.execute(
        f"INSERT INTO {data_type} ({', '.join(names)}) VALUES ({placeholders})", *values
    )


async def insert_user(conn: Any, username: str) -> uuid.UUID:
    user_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO users (email, username, password_hash) VALUES ($1, $2, 'x') RETURNING id",
        f"{username}@example.com",
        username,
    )
    return user_id


async def seed_demo(pool: asyncpg.Pool, *, days: int = 100) -> dict[str, uuid.UUID]:
    """Two users; `demo` has `days` days of every charted type, trends with a flag, cursors
    (one stale, one failing) and an active connection; `lapsed` needs re-authorisation."""
    today = datetime.now(UTC).date()
    async with pool.acquire() as conn, conn.transaction():
        demo = await insert_user(conn, "demo")
        lapsed = await insert_user(conn, "lapsed")
        for back in range(days):
            day = today - timedelta(days=back)
            for data_type in DAILY_TYPES:
                await insert_document(conn, demo, data_type, example_document(data_type, day=day))
        await _seed_trends(conn, demo)
        await _seed_cursors(conn, demo, lapsed)
        await _seed_connections(conn, demo, lapsed)
    return {"demo": demo, "lapsed": lapsed}


async def _seed_trends(conn: Any, user_id: uuid.UUID) -> None:
    for metric, (table, column) in TREND_METRICS.items():
        await conn.execute(
            f"""
            INSERT INTO daily_trends (user_id, metric, day, value, mean_7d, mean_28d, baseline,
                                      baseline_spread, deviation, direction, flag)
            SELECT user_id, $2, day, v,
                   avg(v) OVER (ORDER BY day ROWS 6 PRECEDING),
                   avg(v) OVER (ORDER BY day ROWS 27 PRECEDING),
                   avg(v) OVER (ORDER BY day ROWS BETWEEN 60 PRECEDING AND 1 PRECEDING),
                   5, 0, 'flat', false
            FROM (SELECT user_id, day, max({column})::float8 AS v FROM {table}
                  WHERE user_id = $1 GROUP BY user_id, day) s
            """,
            user_id,
            metric,
        )
    await conn.execute(
        """
        UPDATE daily_trends SET deviation = (value - baseline) / baseline_spread,
               direction = CASE WHEN value > baseline THEN 'up' ELSE 'down' END,
               flag = abs(value - baseline) / baseline_spread >= 2.5
        WHERE user_id = $1 AND baseline IS NOT NULL
        """,
        user_id,
    )
    # At least one flag whatever the random values: a very low sleep score three days ago.
    await conn.execute(
        """
        UPDATE daily_trends SET value = 20, deviation = -6, direction = 'down', flag = true
        WHERE user_id = $1 AND metric = 'daily_sleep.score' AND day = current_date - 3
        """,
        user_id,
    )


async def _seed_cursors(conn: Any, demo: uuid.UUID, lapsed: uuid.UUID) -> None:
    now = datetime.now(UTC)
    rows = [
        (demo, t, "ok", now - timedelta(hours=2), now - timedelta(hours=2), None)
        for t in DAILY_TYPES
    ]
    rows += [
        (
            lapsed,
            "daily_sleep",
            "failed",
            now - timedelta(hours=50),
            now - timedelta(hours=1),
            "refresh token rejected: needs re-authorisation",
        ),
        (lapsed, "sleep", "ok", now - timedelta(hours=30), now - timedelta(hours=30), None),
        (lapsed, "daily_spo2", "not_granted", None, now - timedelta(hours=1), "scope not granted"),
    ]
    await conn.executemany(
        """
        INSERT INTO collection_cursors (user_id, data_type, cursor_day, covered, status,
                                        last_success_at, last_attempt_at, last_error,
                                        documents_total)
        VALUES ($1, $2, current_date, datemultirange(daterange(current_date - 99, current_date,
                '[]')), $3, $4, $5, $6, 100)
        """,
        rows,
    )


async def _seed_connections(conn: Any, demo: uuid.UUID, lapsed: uuid.UUID) -> None:
    await conn.executemany(
        """
        INSERT INTO oauth_tokens (user_id, access_token_ciphertext, refresh_token_ciphertext,
                                  expires_at, scopes, status, refresh_failures)
        VALUES ($1, $2, $2, now() + interval '1 day', '{daily,heartrate}', $3, $4)
        """,
        [(demo, b"ciphertext", "active", 0), (lapsed, b"ciphertext", "needs_reauth", 3)],
    )
