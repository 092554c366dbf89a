"""Pure parts: validation rules, trend arithmetic, and the typed columns against the database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from schemas.data_types import DATA_TYPES
from schemas.examples import example_document
from schemas.records import RawRecord
from stream_processor.storage.documents import (
    COLUMNS,
    USER_CHANGED_CHANNEL,
    notify_users_changed,
    typed_values,
)
from stream_processor.trends import compute_trend
from stream_processor.validation import ValidationError, validate

USER = str(uuid.uuid4())


def _record(data_type: str, document: dict[str, object]) -> RawRecord:
    return RawRecord(USER, data_type, document, datetime(2026, 1, 1, tzinfo=UTC), "/x")


@pytest.mark.parametrize("data_type", [t.name for t in DATA_TYPES])
def test_realistic_documents_pass_validation(data_type: str) -> None:
    for seed in range(40):
        doc = example_document(data_type, day=date(2025, 3, 1) + timedelta(days=seed), seed=seed)
        assert validate(_record(data_type, doc))


def test_sample_series_longer_than_its_sleep_is_refused() -> None:
    doc = example_document("sleep", day=date(2025, 3, 1), seed=1)
    doc["heart_rate"]["items"] = doc["heart_rate"]["items"] * 3
    with pytest.raises(ValidationError, match="run past the end of the period"):
        validate(_record("sleep", doc))


def test_negative_durations_and_bad_series_are_all_reported() -> None:
    doc = example_document("daily_activity", day=date(2025, 3, 1), seed=1)
    doc["steps"] = -5
    doc["met"]["interval"] = 0
    with pytest.raises(ValidationError) as error:
        validate(_record("daily_activity", doc))
    assert "steps=-5 is outside >= 0" in str(error.value)
    assert "met.interval=0 must be a positive number" in str(error.value)


def test_document_without_id_gets_a_derived_key() -> None:
    doc = example_document("daily_cardiovascular_age", day=date(2025, 3, 1), seed=1)
    doc["id"] = None
    assert validate(_record("daily_cardiovascular_age", doc)) == (
        "daily_cardiovascular_age:2025-03-01"
    )


def test_trend_baseline_deviation_and_flag() -> None:
    start = date(2025, 1, 1)
    values: dict[date, float | None] = {start + timedelta(days=i): 60.0 + i % 5 for i in range(60)}
    target = start + timedelta(days=60)
    values[target] = 90.0
    trend = compute_trend(USER, "daily_sleep.score", target, values)
    assert trend.baseline == 62.0
    assert trend.baseline_spread == pytest.approx(1.4826)
    assert trend.deviation == pytest.approx((90 - 62) / 1.4826, rel=1e-5)
    assert trend.flag and trend.direction == "up"
    assert trend.mean_7d == pytest.approx((sum(60.0 + i % 5 for i in range(54, 60)) + 90) / 7)


def test_too_little_history_gives_no_baseline() -> None:
    start = date(2025, 1, 1)
    values: dict[date, float | None] = {start + timedelta(days=i): 50.0 for i in range(10)}
    trend = compute_trend(USER, "daily_sleep.score", start + timedelta(days=9), values)
    assert trend.baseline is None and trend.deviation is None and not trend.flag
    assert trend.mean_7d == 50.0 and trend.direction == "flat"


async def test_typed_columns_match_the_migrated_tables(db: asyncpg.Pool) -> None:
    common = {"user_id", "id", "day", "document", "content_hash", "fetched_at", "written_at"}
    for table, columns in COLUMNS.items():
        rows = await db.fetch(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = $1",
            table,
        )
        typed = {r["column_name"]: r["data_type"] for r in rows if r["column_name"] not in common}
        expected = {
            c.name: {"timestamptz": "timestamp with time zone"}.get(c.sql_type, c.sql_type)
            for c in columns
        }
        assert typed == expected, table


def test_heartrate_columns_extracted_in_one_pass_equal_the_column_definitions() -> None:
    for seed in range(5):
        doc = example_document("heartrate", day=date(2025, 3, 1), seed=seed)
        expected = tuple(column.extract(doc) for column in COLUMNS["heartrate"])
        assert typed_values("heartrate", doc) == expected
    assert typed_values("heartrate", {"day": "2025-03-01", "rows": []}) == (0, None, None, None)


async def test_changed_users_are_notified_at_commit_only(db: asyncpg.Pool) -> None:
    heard: list[str] = []

    def hear(*args: object) -> None:
        heard.append(str(args[3]))

    listener = await db.acquire()
    try:
        await listener.add_listener(USER_CHANGED_CHANNEL, hear)
        async with db.acquire() as conn:
            async with conn.transaction():
                await notify_users_changed(conn, [USER, USER])
                await asyncio.sleep(0.2)
                assert heard == []  # nothing before the commit
            await asyncio.sleep(0.2)
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await notify_users_changed(conn, ["rolled-back"])
                    raise RuntimeError
        for _ in range(50):
            if heard:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert heard == [USER]  # once per user, and nothing from the rolled-back transaction
    finally:
        await listener.remove_listener(USER_CHANGED_CHANNEL, hear)
        await db.release(listener)
