"""Session fixtures: a real Kafka broker and a real PostgreSQL for every integration test.

Where the environment names a stack (KAFKA_BOOTSTRAP_SERVERS and DB_HOST), the tests use it.
Otherwise they start the local stack with the same code as `make up` (scripts/localstack.py), or
with testcontainers when MYHEALTH_TEST_STACK=docker and a Docker engine exists.
Isolation: each test gets its own topic prefix and consumer group ids, and a database whose
tables are emptied before it runs.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command

from migrations import alembic_config
from oura_connection import TokenCipher
from schemas.settings import DatabaseSettings, KafkaSettings
from schemas.topics import delete_topics, ensure_topics, registry

ROOT = Path(__file__).resolve().parent.parent
# Every service defaults to production (fail closed); the tests, and every subprocess they start,
# ask for development. Tests of the production checks set ENVIRONMENT themselves.
os.environ["ENVIRONMENT"] = "development"
TEST_DB = os.environ.get("MYHEALTH_TEST_DB", "myhealth_test")


def _load_localstack() -> Any:
    spec = importlib.util.spec_from_file_location("localstack", ROOT / "scripts" / "localstack.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # Registered before running it: dataclasses look their module up while the class is built.
    sys.modules["localstack"] = module
    spec.loader.exec_module(module)
    return module


def _docker_stack() -> Iterator[dict[str, str]]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:15") as pg, KafkaContainer("apache/kafka:4.1.1") as kafka:
        yield {
            "DB_HOST": pg.get_container_host_ip(),
            "DB_PORT": str(pg.get_exposed_port(5432)),
            "DB_USER": pg.username,
            "DB_PASSWORD": pg.password,
            "DB_NAME": pg.dbname,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.get_bootstrap_server(),
        }


@pytest.fixture(scope="session")
def stack() -> Iterator[dict[str, str]]:
    """Connection settings of the running stack, also exported to os.environ for subprocesses."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("DB_HOST"):
        yield dict(os.environ)
        return
    if os.environ.get("MYHEALTH_TEST_STACK") == "docker":
        gen = _docker_stack()
        env = next(gen)
    else:
        gen = None
        env = _load_localstack().up()
    os.environ.update(env)
    yield env
    if gen is not None:
        gen.close()


@pytest.fixture(scope="session")
def kafka_settings(stack: dict[str, str]) -> KafkaSettings:
    return KafkaSettings()


@pytest.fixture(scope="session")
def base_db_settings(stack: dict[str, str]) -> DatabaseSettings:
    return DatabaseSettings()


@pytest.fixture(scope="session")
def db_settings(base_db_settings: DatabaseSettings) -> Iterator[DatabaseSettings]:
    """A dedicated test database, recreated and migrated to head once per session."""

    async def recreate() -> None:
        conn = await asyncpg.connect(**base_db_settings.asyncpg_kwargs())
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{TEST_DB}"')
        finally:
            await conn.close()

    asyncio.run(recreate())
    settings = base_db_settings.model_copy(update={"name": TEST_DB})
    url = settings.dsn().replace("postgresql://", "postgresql+psycopg://", 1)
    command.upgrade(alembic_config(url), "head")
    previous = os.environ.get("DB_NAME")
    os.environ["DB_NAME"] = TEST_DB
    yield settings
    if previous is not None:
        os.environ["DB_NAME"] = previous


TABLES_TO_KEEP = {"alembic_version"}


@pytest.fixture
async def db(db_settings: DatabaseSettings) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test database, with every table emptied first."""
    pool = await asyncpg.create_pool(**db_settings.asyncpg_kwargs(), min_size=1, max_size=8)
    assert pool is not None
    tables = await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    names = [r["tablename"] for r in tables if r["tablename"] not in TABLES_TO_KEEP]
    if names:
        await pool.execute(f"TRUNCATE {', '.join(names)} CASCADE")
    yield pool
    await pool.close()


# Oura tokens are stored encrypted; one key per test session.
@pytest.fixture(scope="session")
def token_key() -> str:
    return TokenCipher.generate_key()


@pytest.fixture
def cipher(token_key: str) -> TokenCipher:
    return TokenCipher.from_keys(token_key)


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
async def topics(kafka_settings: KafkaSettings, topic_prefix: str) -> AsyncIterator[KafkaSettings]:
    """Every registry topic under a prefix unique to this test; deleted afterwards."""
    settings = kafka_settings.model_copy(update={"topic_prefix": topic_prefix})
    specs = registry(topic_prefix)
    await ensure_topics(settings, specs)
    yield settings
    await delete_topics(settings, [s.name for s in specs])


@pytest.fixture
def group_id() -> str:
    return f"test-group-{uuid.uuid4().hex[:10]}"
