"""The `auth_throttle` table: login failures per account and per client address, shared by every
gateway replica."""

from __future__ import annotations

from datetime import datetime
from typing import Any

# One statement, atomic under concurrency: a failure outside the window starts a new window; the
# failure that reaches the limit sets the lock.
_RECORD_FAILURE = """
INSERT INTO auth_throttle AS t (scope, key, failures, window_started, locked_until)
VALUES ($1, $2, 1, now(), CASE WHEN $3::int <= 1 THEN now() + make_interval(secs => $5) END)
ON CONFLICT (scope, key) DO UPDATE SET
    failures = CASE WHEN t.window_started < now() - make_interval(secs => $4)
                    THEN 1 ELSE t.failures + 1 END,
    window_started = CASE WHEN t.window_started < now() - make_interval(secs => $4)
                          THEN now() ELSE t.window_started END,
    locked_until = CASE
        WHEN t.window_started >= now() - make_interval(secs => $4) AND t.failures + 1 >= $3
        THEN now() + make_interval(secs => $5)
        ELSE t.locked_until END
"""


async def locked_until(conn: Any, keys: list[tuple[str, str]]) -> datetime | None:
    """The latest lock still in force over these (scope, key) pairs, if any."""
    scopes = [s for s, _ in keys]
    names = [k for _, k in keys]
    value = await conn.fetchval(
        "SELECT max(locked_until) FROM auth_throttle "
        "WHERE (scope, key) IN (SELECT * FROM unnest($1::text[], $2::text[])) "
        "AND locked_until > now()",
        scopes,
        names,
    )
    return value if isinstance(value, datetime) else None


async def record_failure(
    conn: Any, *, scope: str, key: str, max_failures: int, window_s: int, lockout_s: int
) -> None:
    await conn.execute(_RECORD_FAILURE, scope, key, max_failures, float(window_s), float(lockout_s))


async def clear(conn: Any, *, scope: str, key: str) -> None:
    await conn.execute("DELETE FROM auth_throttle WHERE scope = $1 AND key = $2", scope, key)
