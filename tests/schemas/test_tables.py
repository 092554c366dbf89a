"""The table contracts in schemas.tables against the database `alembic upgrade head` leaves."""

from __future__ import annotations

import asyncpg

from schemas.data_types import get
from schemas.tables import trends
from schemas.tables.documents import COLUMNS

# information_schema spells some types out
_SPELLED = {"timestamptz": "timestamp with time zone"}
_DOCUMENT_COMMON = {"user_id", "id", "day", "document", "content_hash", "fetched_at"}
_DOCUMENT_COMMON |= {"written_at", "quality", "in_progress"}


async def _columns(db: asyncpg.Pool, table: str) -> dict[str, tuple[str, bool]]:
    rows = await db.fetch(
        "SELECT column_name, data_type, is_nullable = 'YES' AS nullable"
        " FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
        table,
    )
    return {r["column_name"]: (r["data_type"], r["nullable"]) for r in rows}


async def test_typed_columns_match_the_migrated_document_tables(db: asyncpg.Pool) -> None:
    for table, columns in COLUMNS.items():
        found = await _columns(db, table)
        assert set(found) >= _DOCUMENT_COMMON, table
        typed = {name: kind for name, (kind, _) in found.items() if name not in _DOCUMENT_COMMON}
        expected = {c.name: _SPELLED.get(c.sql_type, c.sql_type) for c in columns}
        assert typed == expected, table
        assert found["document"][0] == get(table).document_sql_type, table


async def test_trend_row_matches_the_migrated_table(db: asyncpg.Pool) -> None:
    found = await _columns(db, "daily_trends")
    expected = {c.name: (_SPELLED.get(c.sql_type, c.sql_type), c.nullable) for c in trends.COLUMNS}
    assert found == expected
