"""Alembic environment. Migrations run over psycopg (sync), which accepts multi-statement DDL;
the services themselves use asyncpg."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from schemas.settings import DatabaseSettings


def _url() -> str:
    configured = context.config.get_main_option("sqlalchemy.url")
    if configured:
        return configured
    settings = DatabaseSettings()
    url = settings.dsn().replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{url}?sslmode={settings.ssl_mode}"


if context.is_offline_mode():
    context.configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(_url())
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        engine.dispose()
