"""The scheduled purge (gateway.purge): what has outlived its use goes, nothing that still
answers a request does; by the gateway's timer and by `python -m gateway.purge`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import asyncpg
from prometheus_client import REGISTRY

from gateway.app import create_app
from gateway.purge import purge
from schemas.settings import DatabaseSettings, KafkaSettings
from tests.gateway.conftest import make_settings
from tests.stream_processor.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]


async def _user(db: asyncpg.Pool) -> uuid.UUID:
    user_id: uuid.UUID = await db.fetchval(
        "INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id",
        f"{uuid.uuid4().hex}@example.com",
    )
    return user_id


async def _seed(db: asyncpg.Pool) -> dict[str, set[str]]:
    """Rows of each table, named; returns the names that must survive, per table."""
    user = await _user(db)
    states = {
        # (expires in, used this long ago) in seconds; the state lifetime is 600 s.
        "expired-long-ago": ("-7200 seconds", None),
        "used-long-ago": ("3000 seconds", "-7200 seconds"),
        "expired-just-now": ("-60 seconds", None),
        "used-just-now": ("500 seconds", "-60 seconds"),
        "live": ("500 seconds", None),
    }
    for nonce, (expires, used) in states.items():
        await db.execute(
            "INSERT INTO oauth_states (nonce, user_id, expires_at, used_at) VALUES ($1, $2, "
            "now() + $3::text::interval, now() + $4::text::interval)",
            nonce,
            user,
            expires,
            used,
        )
    throttles = {
        # (scope, window started, locked until); windows: login 900 s, register 3600 s.
        "pair-over": ("pair", "-1000 seconds", None),
        "pair-over-but-waiting": ("pair", "-1000 seconds", "60 seconds"),
        "pair-running": ("pair", "-100 seconds", None),
        "login-over": ("login", "-1000 seconds", None),
        "register-running": ("register", "-1000 seconds", None),
        "register-over": ("register", "-4000 seconds", None),
    }
    for key, (scope, started, locked) in throttles.items():
        await db.execute(
            "INSERT INTO auth_throttle (scope, key, failures, window_started, locked_until) "
            "VALUES ($1, $2, 5, now() + $3::text::interval, now() + $4::text::interval)",
            scope,
            key,
            started,
            locked,
        )
    dead, alive = uuid.uuid4(), uuid.uuid4()
    tokens = {
        "dead-1": (dead, "-2 days"),
        "dead-2": (dead, "-1 day"),
        # An expired token of a family with a live one: its reuse must still revoke the family.
        "alive-old": (alive, "-1 day"),
        "alive-new": (alive, "1 day"),
    }
    for name, (family, expires) in tokens.items():
        await db.execute(
            "INSERT INTO refresh_tokens (token_hash, user_id, family, token_version, expires_at)"
            " VALUES ($1, $2, $3, 0, now() + $4::text::interval)",
            name.encode(),
            user,
            family,
            expires,
        )
    return {
        "oauth_states": {"expired-just-now", "used-just-now", "live"},
        "auth_throttle": {"pair-over-but-waiting", "pair-running", "register-running"},
        "refresh_tokens": {"alive-old", "alive-new"},
    }


async def _left(db: asyncpg.Pool) -> dict[str, set[str]]:
    return {
        "oauth_states": {r[0] for r in await db.fetch("SELECT nonce FROM oauth_states")},
        "auth_throttle": {r[0] for r in await db.fetch("SELECT key FROM auth_throttle")},
        "refresh_tokens": {
            bytes(r[0]).decode() for r in await db.fetch("SELECT token_hash FROM refresh_tokens")
        },
    }


def _purged(table: str) -> float:
    value = REGISTRY.get_sample_value("gateway_rows_purged_total", {"table": table})
    return value or 0.0


async def test_purge_deletes_only_what_has_outlived_its_use(db: asyncpg.Pool) -> None:
    kept = await _seed(db)
    before = {t: _purged(t) for t in kept}
    deleted = await purge(db, make_settings())
    assert deleted == {"oauth_states": 2, "auth_throttle": 3, "refresh_tokens": 2}
    assert await _left(db) == kept
    assert {t: _purged(t) - before[t] for t in kept} == deleted
    assert await purge(db, make_settings()) == dict.fromkeys(deleted, 0)


async def test_the_gateway_purges_on_its_timer(
    db: asyncpg.Pool,
    db_settings: DatabaseSettings,
    kafka_settings: KafkaSettings,
) -> None:
    kept = await _seed(db)
    settings = make_settings(purge_interval_s=0.5)
    application = create_app(settings, database=db_settings, kafka=kafka_settings)
    async with application.router.lifespan_context(application):

        async def purged() -> bool:
            return await _left(db) == kept

        await eventually(purged, 30, "the gateway's purge")


async def test_the_purge_command(db: asyncpg.Pool, db_settings: DatabaseSettings) -> None:
    kept = await _seed(db)
    env = {**os.environ, "DB_NAME": db_settings.name, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.purge",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()[-2000:]
    counts = json.loads(out.decode().strip().splitlines()[-1])
    assert counts == {"auth_throttle": 3, "oauth_states": 2, "refresh_tokens": 2}
    assert await _left(db) == kept
