"""Real Oura data through the worker: an implausible field costs only itself, and a day still in
progress is neither flagged nor part of anyone's baseline. Served by the real gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import httpx
import pytest

from gateway.app import create_app
from schemas.records import RawRecord
from schemas.settings import DatabaseSettings, KafkaSettings
from stream_processor.trends import compute_trend
from tests.gateway.conftest import make_settings
from tests.gateway.factories import new_user
from tests.stream_processor.helpers import (
    Worker,
    day,
    produce,
    raw,
    wait_committed,
)


@pytest.fixture
async def gateway(
    db: asyncpg.Pool, db_settings: DatabaseSettings, kafka_settings: KafkaSettings
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(), database=db_settings, kafka=kafka_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def _trend(db: asyncpg.Pool, user: str, metric: str, on: date) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT value, baseline, mean_7d, deviation, flag, in_progress FROM daily_trends"
        " WHERE user_id = $1 AND metric = $2 AND day = $3",
        user,
        metric,
        on,
    )


async def test_an_implausible_night_is_stored_flagged_and_served_with_its_notes(
    topics: KafkaSettings,
    db: asyncpg.Pool,
    gateway: httpx.AsyncClient,
    worker: Worker,
    group_id: str,
) -> None:
    user_id, headers = await new_user(gateway)
    user = str(user_id)
    nights = [raw(user, "sleep", day(n), seed=n) for n in range(20)]
    odd = raw(user, "sleep", day(20), seed=20)
    # Both appear in Oura's own published examples.
    odd.document["average_heart_rate"] = 400.0
    odd.document["hrv"]["items"][2] = -15.0
    await produce(topics, [*nights, odd])
    worker.start()
    await wait_committed(topics, group_id, len(nights) + 1, worker)

    response = await gateway.get(
        "/api/sleep-periods",
        params={"start_date": day(20).isoformat(), "end_date": day(20).isoformat()},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    [row] = response.json()["data"]
    assert set(row["quality"]) == {"average_heart_rate", "hrv"}
    assert "average_heart_rate=400.0 is outside 20-250" in row["quality"]["average_heart_rate"]
    assert "hrv.items has 1 values outside 0-None" in row["quality"]["hrv"]
    # The field is out of the typed columns, the rest of the night is all there, and the
    # document keeps what Oura sent.
    assert row["average_heart_rate"] is None
    assert row["total_sleep_duration"] == odd.document["total_sleep_duration"]
    assert row["average_hrv"] == odd.document["average_hrv"]
    assert row["document"]["average_heart_rate"] == 400.0
    # Left out of the trends; the night's other metrics are there.
    assert await _trend(db, user, "sleep.average_heart_rate", day(20)) is None
    hrv = await _trend(db, user, "sleep.average_hrv", day(20))
    assert hrv is not None and hrv["value"] == odd.document["average_hrv"]
    assert worker.stop() == 0, worker.log()


def _activity(user: str, on: date, steps: int, fetched_at: datetime) -> RawRecord:
    record = raw(user, "daily_activity", on, seed=on.toordinal(), fetched_at=fetched_at)
    record.document["steps"] = steps
    record.document["id"] = f"activity-{on.isoformat()}"
    # A California day: it ends at 08:00 UTC the next morning.
    record.document["timestamp"] = f"{on.isoformat()}T04:00:00-08:00"
    return record


async def test_a_day_in_progress_is_not_flagged_and_moves_no_baseline(
    topics: KafkaSettings,
    db: asyncpg.Pool,
    gateway: httpx.AsyncClient,
    worker: Worker,
    group_id: str,
) -> None:
    user_id, headers = await new_user(gateway)
    user = str(user_id)
    # Days up to the dashboard's today (it summarizes the last 60 days).
    today = datetime.now(UTC).date()
    first = today - timedelta(days=30)
    later = datetime.combine(today + timedelta(days=3), time(), UTC)  # every day over by then
    steps = {first + timedelta(days=n): 9000 + (n % 7) * 150 for n in range(30)}
    history = [_activity(user, on, value, later) for on, value in steps.items()]
    mid_morning = datetime.combine(today, time(18, 0), UTC)  # 10:00 in California
    partial = _activity(user, today, 52, mid_morning)
    tomorrow = _activity(user, today + timedelta(days=1), 9100, later)
    await produce(topics, [*history, partial, tomorrow])
    worker.start()
    await wait_committed(topics, group_id, len(history) + 2, worker)

    metric = "daily_activity.steps"
    so_far = await _trend(db, user, metric, today)
    assert so_far is not None and so_far["value"] == 52 and so_far["in_progress"]
    assert so_far["deviation"] is not None and so_far["deviation"] < -2.5
    assert not so_far["flag"]  # a morning's steps are no anomaly
    # The next day's baseline and means are those of the complete days only.
    next_day = today + timedelta(days=1)
    expected = compute_trend(user, metric, next_day, {**steps, next_day: 9100.0})
    after = await _trend(db, user, metric, next_day)
    assert after is not None and not after["in_progress"]
    assert (after["baseline"], after["mean_7d"]) == (expected.baseline, expected.mean_7d)

    dashboard = await gateway.get("/api/dashboard", headers=headers)
    assert dashboard.status_code == 200, dashboard.text
    summary = dashboard.json()["scores"]["steps"]
    assert summary["latest"] == 52 and summary["latest_label"] == "so far today"

    # Collected again once the day is over: evaluated like any other day.
    complete = _activity(user, today, 2100, later)
    await produce(topics, [complete])
    await wait_committed(topics, group_id, len(history) + 3, worker)
    final = await _trend(db, user, metric, today)
    assert final is not None and final["value"] == 2100 and not final["in_progress"]
    assert final["flag"]
    assert worker.stop() == 0, worker.log()
