"""Writing a batch of documents: new rows by COPY, the others by the upsert, one outcome.

`write_documents` must leave exactly what `upsert_documents` (the statement it replaces for new
rows) leaves, and report the same changed user-days, against the real database."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from schemas.examples import example_document
from schemas.records import canonical_form, document_key
from schemas.tables.documents import COLUMNS
from stream_processor.storage.documents import (
    COPY_MIN_ROWS,
    DocumentRow,
    copy_record,
    to_row,
    upsert_documents,
    write_documents,
)
from tests.stream_processor.helpers import make_users

START = date(2025, 1, 1)
# Between them, typed columns of every kind: integer, float, text, timestamptz and date.
TYPES = ("sleep", "workout", "daily_activity", "heartrate", "rest_mode_period")


def _row(
    user_id: str, data_type: str, day: int, seed: int, *, revised: bool = False
) -> DocumentRow:
    document = example_document(data_type, day=START + timedelta(days=day), seed=seed)
    key = document_key(data_type, document)
    if revised:  # the same document fetched again later, with other content
        document["revision"] = "fetched again"
    text, digest = canonical_form(document)
    fetched = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seed + (1000 if revised else 0))
    return to_row(data_type, user_id, key, document, text.decode(), digest, fetched)


def _batches(users: list[str], data_type: str) -> tuple[list[DocumentRow], list[DocumentRow]]:
    """A first batch of 40 days per user, then one that revises days 0-19 (a later fetch, new
    content), repeats days 20-39 unchanged and adds days 40-59."""
    first = [_row(u, data_type, d, d) for u in users for d in range(40)]
    second = [_row(u, data_type, d, d, revised=True) for u in users for d in range(20)]
    second += [_row(u, data_type, d, d) for u in users for d in range(20, 40)]
    second += [_row(u, data_type, d, d) for u in users for d in range(40, 60)]
    return first, second


async def _contents(conn: asyncpg.Connection, data_type: str) -> set[tuple[Any, ...]]:
    typed = ", ".join(c.name for c in COLUMNS[data_type])
    rows = await conn.fetch(
        f"SELECT user_id, id, day, {typed}, document::text, content_hash, fetched_at"
        f" FROM {data_type}"
    )
    return {tuple(r) for r in rows}


async def test_new_rows_by_copy_leave_what_the_upsert_leaves(db: asyncpg.Pool) -> None:
    users = await make_users(db, 2)
    async with db.acquire() as conn:
        for data_type in TYPES:
            first, second = _batches(users, data_type)
            assert len(first) >= COPY_MIN_ROWS
            outcomes = []
            for write in (write_documents, upsert_documents):
                await conn.execute(f"DELETE FROM {data_type}")
                async with conn.transaction():
                    changed_first = sorted(await write(conn, data_type, first))
                async with conn.transaction():
                    changed_second = sorted(await write(conn, data_type, second))
                outcomes.append((changed_first, changed_second, await _contents(conn, data_type)))
            assert outcomes[0] == outcomes[1], data_type
            changed_first, changed_second, contents = outcomes[0]
            assert len(changed_first) == len(first) == 80
            assert len(changed_second) == 80  # 40 revised and 40 new; 40 unchanged
            assert len(contents) == 120


async def test_a_row_a_concurrent_writer_stores_after_the_probe_is_upserted(
    db: asyncpg.Pool,
) -> None:
    (user,) = await make_users(db, 1)
    rows = [_row(user, "sleep", d, d) for d in range(COPY_MIN_ROWS + 10)]
    async with db.acquire() as ours, db.acquire() as theirs:
        other = theirs.transaction()
        await other.start()
        await upsert_documents(theirs, "sleep", [rows[5]])  # not committed yet

        async def write() -> list[tuple[str, str | None]]:
            async with ours.transaction():
                return await write_documents(ours, "sleep", rows)

        task = asyncio.create_task(write())
        await asyncio.sleep(0.5)
        # Our COPY met their uncommitted row: it waits for their transaction to end.
        assert not task.done()
        await other.commit()
        changed = await asyncio.wait_for(task, 30)
    assert len(changed) == len(rows) - 1  # theirs is the same document: unchanged
    assert await db.fetchval("SELECT count(*) FROM sleep WHERE user_id = $1", user) == len(rows)


def test_rows_go_to_copy_with_binary_values_and_odd_ones_to_the_upsert() -> None:
    user = "00000000-0000-4000-8000-000000000001"
    for data_type in TYPES:
        row = _row(user, data_type, 3, 3)
        record = copy_record(data_type, row)
        assert record is not None, data_type
        assert record[:3] == (user, row.key, START + timedelta(days=3))
        for column, value in zip(COLUMNS[data_type], record[3:-5], strict=True):
            if value is not None and column.sql_type in ("timestamptz", "date"):
                assert isinstance(value, date), (data_type, column.name, value)

    row = _row(user, "sleep", 3, 3)
    names = [c.name for c in COLUMNS["sleep"]]

    def with_typed(name: str, value: Any) -> DocumentRow:
        typed = list(row.typed)
        typed[names.index(name)] = value
        return dataclasses.replace(row, typed=tuple(typed))

    assert copy_record("sleep", with_typed("bedtime_start", "2025-01-04T01:00:00")) is None
    assert copy_record("sleep", with_typed("bedtime_start", "the night")) is None
    assert copy_record("sleep", with_typed("time_in_bed", 2**31)) is None
    assert copy_record("sleep", with_typed("sleep_type", 7)) is None
    assert copy_record("sleep", dataclasses.replace(row, day="2025-02-30")) is None
    assert copy_record("sleep", with_typed("time_in_bed", None)) is not None
