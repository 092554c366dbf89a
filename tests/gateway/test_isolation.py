"""User A can neither see, export nor delete anything of user B's, by any route."""

from __future__ import annotations

from datetime import date

import asyncpg
import httpx

from gateway.routes.data import ROUTES
from gateway.routes.params import encode_cursor
from tests.gateway.factories import insert_every_type, insert_trend, new_user

DAY = date(2026, 3, 10)
WINDOW = {"start_date": "2026-03-01", "end_date": "2026-03-31"}


async def test_no_route_reveals_another_users_data(
    client: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    a_id, a_headers = await new_user(client)
    b_id, b_headers = await new_user(client)
    await insert_every_type(db, b_id, DAY, seed=2)
    await insert_trend(db, b_id, "sleep_score", DAY, 70, flag=True)
    b_ids = {
        r["id"]
        for t in ROUTES.values()
        for r in await db.fetch(f"SELECT id FROM {t[0]} WHERE user_id = $1", b_id)
    }
    assert len(b_ids) == len(ROUTES)

    for path in ROUTES:
        mine = await client.get(f"/api/{path}", params=WINDOW, headers=a_headers)
        assert mine.status_code == 200 and mine.json()["data"] == [], path
        theirs = await client.get(f"/api/{path}", params=WINDOW, headers=b_headers)
        assert len(theirs.json()["data"]) == 1, path
        # A cursor pointing into B's rows still only pages through A's.
        token = encode_cursor((date(2026, 1, 1), ""))
        crafted = await client.get(
            f"/api/{path}", params={**WINDOW, "next_token": token}, headers=a_headers
        )
        assert crafted.json()["data"] == [], path

    trends = await client.get("/api/trends", params=WINDOW, headers=a_headers)
    assert trends.json()["data"] == []
    dashboard = (await client.get("/api/dashboard", headers=a_headers)).json()
    assert dashboard["flags"] == [] and dashboard["sync"]["status"] is None
    export = await client.get("/api/export", params={"format": "csv"}, headers=a_headers)
    assert export.status_code == 200
    assert not any(i in export.text for i in b_ids) and str(b_id) not in export.text
    json_export = await client.get("/api/export", headers=a_headers)
    assert not any(i in json_export.text for i in b_ids)
    connection = await client.get("/api/connection", headers=a_headers)
    assert connection.json()["status"] == "none"
    me = (await client.get("/api/me", headers=a_headers)).json()
    assert me["id"] == str(a_id)

    # A erasing their account leaves all of B's rows in place.
    before = await db.fetchval("SELECT count(*) FROM daily_sleep WHERE user_id = $1", b_id)
    assert (await client.delete("/api/me", headers=a_headers)).status_code == 202
    after = await db.fetchval("SELECT count(*) FROM daily_sleep WHERE user_id = $1", b_id)
    assert before == after == 1
    assert (await client.get("/api/me", headers=b_headers)).status_code == 200
    assert (await client.delete("/api/oauth/connection", headers=b_headers)).status_code == 404
