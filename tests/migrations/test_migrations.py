"""Alembic owns the schema: upgrade head and downgrade base both work on a real database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic import command

from migrations import alembic_config
from schemas.data_types import DATA_TYPES
from schemas.settings import DatabaseSettings


@pytest.fixture
async def scratch_db(base_db_settings: DatabaseSettings) -> AsyncIterator[DatabaseSettings]:
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(**base_db_settings.asyncpg_kwargs())
    await admin.execute(f'CREATE DATABASE "{name}"')
    yield base_db_settings.model_copy(update={"name": name})
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


def _url(settings: DatabaseSettings) -> str:
    return settings.dsn().replace("postgresql://", "postgresql+psycopg://", 1)


async def _tables(settings: DatabaseSettings) -> set[str]:
    conn = await asyncpg.connect(**settings.asyncpg_kwargs())
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_upgrade_downgrade_upgrade(scratch_db: DatabaseSettings) -> None:
    config = alembic_config(_url(scratch_db))
    command.upgrade(config, "head")
    tables = await _tables(scratch_db)
    expected = {"users", "oauth_tokens", "collection_cursors", "daily_trends"}
    assert expected | {t.name for t in DATA_TYPES} <= tables

    command.downgrade(config, "base")
    assert await _tables(scratch_db) <= {"alembic_version"}

    command.upgrade(config, "head")
    assert expected <= await _tables(scratch_db)


async def test_documents_are_lz4_compressed_and_indexed_by_user_day(
    db: asyncpg.Pool,
) -> None:
    for data_type in DATA_TYPES:
        compression = await db.fetchval(
            "SELECT attcompression::text FROM pg_attribute "
            "WHERE attrelid = $1::regclass AND attname = 'document'",
            data_type.name,
        )
        assert compression == "l", f"{data_type.name}.document is not lz4-compressed"
        index = await db.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexname = $2",
            data_type.name,
            f"{data_type.name}_user_day_idx",
        )
        assert index is not None and "(user_id, day)" in index


async def test_grafana_reader_cannot_read_secrets(db: asyncpg.Pool) -> None:
    can = await db.fetchval("SELECT has_table_privilege('grafana_reader', 'daily_sleep', 'SELECT')")
    cannot = await db.fetchval(
        "SELECT has_table_privilege('grafana_reader', 'oauth_tokens', 'SELECT')"
    )
    hash_hidden = not await db.fetchval(
        "SELECT has_column_privilege('grafana_reader', 'users', 'password_hash', 'SELECT')"
    )
    assert can and not cannot and hash_hidden
