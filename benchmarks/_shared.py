"""What every benchmark needs: a freshly migrated database of its own, and a way to merge its
figures into benchmarks/results.json without clobbering the others'."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
from alembic import command

from migrations import alembic_config
from schemas.settings import DatabaseSettings

RESULTS = Path(__file__).resolve().parent / "results.json"


def merge_results(figures: dict[str, Any]) -> None:
    """Add or replace these keys in results.json; keys of other benchmarks stay."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update(figures)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


async def recreate_database(base: DatabaseSettings, name: str) -> DatabaseSettings:
    """Drop and create database `name`, migrate it to head, and return settings that use it."""
    conn = await asyncpg.connect(**base.asyncpg_kwargs())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    settings = base.model_copy(update={"name": name})
    url = settings.dsn().replace("postgresql://", "postgresql+psycopg://", 1)
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    return settings
