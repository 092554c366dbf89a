"""The `auth_throttle` table, shared by every gateway replica: failed logins per (account,
client address) pair, and attempts per address against a budget (`login`, `register`)."""

from __future__ import annotations

from datetime import datetime

from schemas.db import Queries, labelled

PAIR = "pair"

# A failure after a quiet window starts the count again.
_FAILURES = (
    "CASE WHEN t.window_started < now() - make_interval(secs => $2) THEN 1 ELSE t.failures + 1 END"
)

# The first `free` failures cost nothing; each further one doubles the wait, up to `cap`.
_RECORD_FAILURE = f"""
INSERT INTO auth_throttle AS t (scope, key, failures, window_started, locked_until)
VALUES ('{PAIR}', $1, 1, now(), CASE WHEN $3::int < 1
    THEN now() + make_interval(secs => least($5::float8, $4::float8)) END)
ON CONFLICT (scope, key) DO UPDATE SET
    failures = {_FAILURES},
    window_started = now(),
    locked_until = CASE WHEN {_FAILURES} > $3::int
        THEN now() + make_interval(secs => least($5::float8,
                                                 $4::float8 * 2 ^ ({_FAILURES} - $3::int - 1)))
        END
RETURNING locked_until
"""

# Attempts in a fixed window: the window restarts once it has passed.
_SPEND = """
INSERT INTO auth_throttle AS t (scope, key, failures, window_started)
VALUES ($1, $2, 1, now())
ON CONFLICT (scope, key) DO UPDATE SET
    failures = CASE WHEN t.window_started < now() - make_interval(secs => $3)
                    THEN 1 ELSE t.failures + 1 END,
    window_started = CASE WHEN t.window_started < now() - make_interval(secs => $3)
                          THEN now() ELSE t.window_started END
RETURNING failures,
          extract(epoch FROM window_started + make_interval(secs => $3) - now())::float8
"""


async def spend(conn: Queries, *, scope: str, key: str, window_s: float) -> tuple[int, float]:
    """Count one attempt: (attempts in the current window, seconds until it ends)."""
    row = await labelled(conn, "spend").fetchrow(_SPEND, scope, key, float(window_s))
    assert row is not None, "an upsert RETURNING always has its row"
    return int(row[0]), float(row[1])


async def delayed_until(conn: Queries, key: str) -> datetime | None:
    """When the pair may try again, if it must still wait."""
    value = await labelled(conn, "delayed_until").fetchval(
        "SELECT locked_until FROM auth_throttle "
        "WHERE scope = $1 AND key = $2 AND locked_until > now()",
        PAIR,
        key,
    )
    return value if isinstance(value, datetime) else None


async def record_failure(
    conn: Queries, key: str, *, window_s: float, free: int, base_s: float, cap_s: float
) -> datetime | None:
    value = await labelled(conn, "record_failure").fetchval(
        _RECORD_FAILURE, key, float(window_s), free, float(base_s), float(cap_s)
    )
    return value if isinstance(value, datetime) else None


async def clear(conn: Queries, key: str) -> None:
    conn = labelled(conn, "clear")
    await conn.execute("DELETE FROM auth_throttle WHERE scope = $1 AND key = $2", PAIR, key)
