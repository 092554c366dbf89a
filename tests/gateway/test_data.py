"""Queries over every data type, trends, dashboard and export; bad input answers 4xx with the
error shape."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import asyncpg
import httpx
import pytest

from gateway.models import Dashboard, TrendPage
from gateway.repositories.documents import TYPED_COLUMNS
from gateway.routes.data import ROUTES, page_model
from gateway.routes.params import today
from tests.gateway.factories import (
    days_back,
    insert_days,
    insert_every_type,
    insert_trend,
    new_user,
)


async def test_typed_columns_match_the_database(db: asyncpg.Pool) -> None:
    for table, columns in TYPED_COLUMNS.items():
        rows = await db.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1", table
        )
        actual = {r["column_name"] for r in rows}
        expected = {n for n, _ in columns} | {
            "user_id",
            "id",
            "day",
            "document",
            "content_hash",
            "fetched_at",
            "written_at",
            "quality",
            "in_progress",
        }
        assert actual == expected, table


async def test_every_route_returns_its_typed_rows(
    client: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    user_id, headers = await new_user(client)
    day = today() - timedelta(days=3)
    await insert_every_type(db, user_id, day)
    for path, (data_type, _) in ROUTES.items():
        response = await client.get(f"/api/{path}", headers=headers)
        assert response.status_code == 200, (path, response.text)
        page = page_model(data_type).model_validate(response.json())
        body = response.json()
        assert len(body["data"]) == 1 and body["next_token"] is None, path
        row = body["data"][0]
        assert isinstance(row["document"], dict) and row["id"], path
        typed = (n for n, _ in TYPED_COLUMNS[data_type])
        assert set(row) == {"id", "day", "in_progress", "quality", "document", *typed}
        assert page is not None


async def test_default_window_and_pagination(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    user_id, headers = await new_user(client)
    await insert_days(db, user_id, "daily_sleep", days_back(45))
    default = (await client.get("/api/sleep", headers=headers)).json()
    days = [r["day"] for r in default["data"]]
    assert len(days) == 30 and days[-1] == today().isoformat() and days == sorted(days)

    seen: list[str] = []
    params = {"start_date": (today() - timedelta(days=44)).isoformat(), "limit": 7}
    while True:
        page = (await client.get("/api/sleep", params=params, headers=headers)).json()
        seen += [r["day"] for r in page["data"]]
        if page["next_token"] is None:
            break
        params["next_token"] = page["next_token"]
    assert len(seen) == 45 and len(set(seen)) == 45 and seen == sorted(seen)

    only = await client.get(
        "/api/sleep", params={"start_date": "2000-01-01", "end_date": "2000-01-31"}, headers=headers
    )
    assert only.json() == {"data": [], "next_token": None}


async def test_trends(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    user_id, headers = await new_user(client)
    for i, day in enumerate(days_back(10)):
        await insert_trend(db, user_id, "sleep_score", day, 70 + i, flag=i == 9)
        await insert_trend(db, user_id, "hrv", day, 40 + i)
    both = await client.get("/api/trends", headers=headers)
    assert len(TrendPage.model_validate(both.json()).data) == 20
    one = (await client.get("/api/trends", params={"metric": "hrv"}, headers=headers)).json()
    assert {p["metric"] for p in one["data"]} == {"hrv"} and len(one["data"]) == 10
    two = await client.get("/api/trends", params={"metric": "hrv,sleep_score"}, headers=headers)
    assert len(two.json()["data"]) == 20
    unknown = await client.get("/api/trends", params={"metric": "nope"}, headers=headers)
    assert unknown.json()["data"] == []


async def test_dashboard(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    user_id, headers = await new_user(client)
    empty = Dashboard.model_validate((await client.get("/api/dashboard", headers=headers)).json())
    assert empty.scores["sleep_score"].latest is None and empty.flags == []

    days = days_back(60)
    for i, day in enumerate(days):
        # Score 60 for the older 30 days, 80 for the last 30; the last 7 days 90.
        score = 90 if i >= 53 else 80 if i >= 30 else 60
        await insert_days(db, user_id, "daily_sleep", [day], score=score)
    await insert_trend(db, user_id, "readiness_score", days[-2], 55, flag=True)
    await db.execute(
        "INSERT INTO collection_cursors (user_id, data_type, status, last_success_at) "
        "VALUES ($1, 'daily_sleep', 'ok', now()), ($1, 'heartrate', 'failed', NULL)",
        user_id,
    )
    # The per-process cache still holds the empty dashboard: the processor would announce its
    # writes; here the test does.
    async with db.acquire() as conn:
        await conn.execute("SELECT pg_notify('myhealth_user_changed', $1)", str(user_id))
    response = None
    for _ in range(50):
        response = await client.get("/api/dashboard", headers=headers)
        if response.json()["scores"]["sleep_score"]["latest"] is not None:
            break
        import asyncio

        await asyncio.sleep(0.05)
    assert response is not None
    dashboard = Dashboard.model_validate(response.json())
    sleep = dashboard.scores["sleep_score"]
    assert sleep.latest == 90 and sleep.latest_day == today()
    assert sleep.avg_7d == 90 and sleep.avg_prev_7d == 80 and sleep.change_7d == 10
    assert sleep.avg_30d == pytest.approx((7 * 90 + 23 * 80) / 30, abs=0.01)
    assert sleep.avg_prev_30d == 60
    assert [f.metric for f in dashboard.flags] == ["readiness_score"]
    assert dashboard.sync.failing_types == ["heartrate"] and dashboard.sync.status is None
    assert dashboard.sync.last_success_at is not None


async def test_export_json_and_csv(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    user_id, headers = await new_user(client)
    await insert_every_type(db, user_id, date(2026, 2, 1))
    await insert_days(db, user_id, "daily_sleep", [date(2026, 2, 2), date(2026, 2, 3)])
    await insert_trend(db, user_id, "sleep_score", date(2026, 2, 1), 75)

    full = await client.get("/api/export", headers=headers)
    assert full.status_code == 200 and "attachment" in full.headers["content-disposition"]
    body = json.loads(full.content)
    assert body["user_id"] == str(user_id)
    assert set(body["data"]) == {*TYPED_COLUMNS, "daily_trends"}
    assert len(body["data"]["daily_sleep"]) == 3 and len(body["data"]["daily_trends"]) == 1

    some = await client.get(
        "/api/export",
        params={"format": "csv", "types": "daily_sleep,heartrate", "start_date": "2026-02-02"},
        headers=headers,
    )
    assert some.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(some.text)))
    assert [(r["data_type"], r["day"]) for r in rows] == [
        ("daily_sleep", "2026-02-02"),
        ("daily_sleep", "2026-02-03"),
    ]
    assert json.loads(rows[0]["document"])["document"]["day"] == "2026-02-02"


async def test_large_export_streams(live_server, db: asyncpg.Pool) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        user_id, headers = await new_user(client)
        await insert_days(db, user_id, "daily_activity", days_back(200))
        chunks = 0
        data = b""
        async with client.stream(
            "GET", "/api/export", params={"types": "daily_activity"}, headers=headers
        ) as response:
            assert response.status_code == 200
            assert response.headers.get("transfer-encoding") == "chunked"
            async for chunk in response.aiter_raw():
                chunks += 1
                data += chunk
    assert len(json.loads(data)["data"]["daily_activity"]) == 200
    assert chunks > 1, "written in pieces, not built in memory first"


BAD_QUERIES = [
    ("/api/sleep", {"start_date": "2026-02-10", "end_date": "2026-02-01"}, "invalid_range"),
    ("/api/sleep", {"start_date": "2020-01-01", "end_date": "2026-01-01"}, "range_too_large"),
    ("/api/sleep", {"start_date": "2026-02-30"}, "validation_error"),
    ("/api/sleep", {"start_date": "yesterday"}, "validation_error"),
    ("/api/sleep", {"start_date": "\uff12\uff10\uff12\uff16-01-01"}, "validation_error"),
    ("/api/sleep", {"end_date": "99999-01-01"}, "validation_error"),
    ("/api/heartrate", {"limit": "0"}, "validation_error"),
    ("/api/heartrate", {"limit": "100000"}, "validation_error"),
    ("/api/workouts", {"next_token": "not-a-token"}, "invalid_next_token"),
    ("/api/workouts", {"next_token": "☃" * 10}, "invalid_next_token"),
    ("/api/trends", {"metric": "'; DROP TABLE users; --"}, "validation_error"),
    ("/api/trends", {"metric": "é"}, "validation_error"),
    ("/api/export", {"types": "daily_sleep,passwords"}, "unknown_type"),
    ("/api/export", {"format": "xml"}, "validation_error"),
    ("/api/export", {"start_date": "2026-02-10", "end_date": "2026-02-01"}, "invalid_range"),
    ("/api/oauth/authorize", {"format": "yaml"}, "validation_error"),
]


@pytest.mark.parametrize(("path", "params", "code"), BAD_QUERIES)
async def test_bad_queries(client: httpx.AsyncClient, path: str, params: dict, code: str) -> None:
    _, headers = await new_user(client)
    response = await client.get(path, params=params, headers=headers)
    assert response.status_code == 422, response.text
    error = response.json()
    assert set(error) == {"detail", "code"} and error["code"] == code
    field = next(iter(params))
    assert field in error["detail"] or code in ("invalid_range", "range_too_large"), error


async def test_oversized_and_malformed_bodies(client: httpx.AsyncClient) -> None:
    huge = {"email": "a@example.com", "password": "x" * 100_000}
    response = await client.post("/api/register", json=huge)
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"

    async def chunked():
        for _ in range(100):
            yield b"x" * 1024

    streamed = await client.post(
        "/api/login", content=chunked(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    for content in (b"\xff\xfe\x00", b'{"email": "a@example.com", "password": "\xff\xfe"}'):
        r = await client.post(
            "/api/register", content=content, headers={"content-type": "application/json"}
        )
        assert 400 <= r.status_code < 500 and set(r.json()) == {"detail", "code"}, r.text
    # Unicode that is valid is just data.
    unicode = {"email": "☃@例え.テスト", "password": "snowmen ☃☃☃☃☃☃", "username": None}
    created = await client.post("/api/register", json=unicode)
    assert created.status_code == 202, created.text
    login = await client.post(
        "/api/login", json={"email": "☃@例え.テスト", "password": "snowmen ☃☃☃☃☃☃"}
    )
    assert login.status_code == 200
    wrong_type = await client.post(
        "/api/login",
        content=b"email=a",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert wrong_type.status_code == 422 and set(wrong_type.json()) == {"detail", "code"}


async def test_unknown_paths_and_methods(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.json() == {
        "detail": "Not Found",
        "code": "not_found",
    }
    method = await client.put("/api/sleep")
    assert method.status_code == 405 and method.json()["code"] == "method_not_allowed"
