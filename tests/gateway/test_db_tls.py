"""verify-full database TLS: a context that checks the chain (against SSL_ROOT_CERT) and the
host name, handed to asyncpg and to libpq URLs; against the local PostgreSQL, which has no TLS,
the connection is refused instead of falling back to plaintext."""

from __future__ import annotations

import ssl

import asyncpg
import pytest

from schemas.settings import DatabaseSettings


def test_verify_full_checks_chain_and_host() -> None:
    bundle = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    settings = DatabaseSettings(SSL_MODE="verify-full", SSL_ROOT_CERT=bundle)
    context = settings.asyncpg_kwargs()["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert f"sslmode=verify-full&sslrootcert={bundle}" in settings.dsn()
    assert "sslmode" not in DatabaseSettings(SSL_MODE="disable").dsn()


async def test_verify_full_never_falls_back_to_plaintext(
    base_db_settings: DatabaseSettings,
) -> None:
    settings = base_db_settings.model_copy(update={"ssl_mode": "verify-full"})
    with pytest.raises((ConnectionError, OSError, asyncpg.PostgresError)):
        conn = await asyncpg.connect(**settings.asyncpg_kwargs(), timeout=10)
        await conn.close()
