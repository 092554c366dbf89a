"""Deleting what has outlived its use: OAuth states past their lifetime, throttle rows past
their window, refresh-token families of which no token can still be used.

Each rule deletes only rows whose absence changes no answer: a state is kept one lifetime past
its use or expiry (a late callback still hears "expired"/"used"), a throttle row only once its
window is over and no wait is running (the next attempt would start afresh anyway), a refresh
token only when its whole family has expired (a reuse of it could revoke nothing alive).

Run by the gateway on a timer (GATEWAY_PURGE_INTERVAL_S) and once by `python -m gateway.purge`."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from prometheus_client import Counter

from gateway.repositories.auth_throttle import PAIR
from gateway.settings import GatewaySettings
from schemas.db import Queries, labelled

log = logging.getLogger("gateway.purge")

ROWS_PURGED = Counter(
    "gateway_rows_purged_total", "Rows deleted by the scheduled purge, by table", ["table"]
)

_OAUTH_STATES = """
DELETE FROM oauth_states
WHERE least(coalesce(used_at, 'infinity'), expires_at) < now() - make_interval(secs => $1)
"""

_AUTH_THROTTLE = f"""
DELETE FROM auth_throttle
WHERE window_started < now() - make_interval(secs => CASE scope
        WHEN '{PAIR}' THEN $1::float8 WHEN 'login' THEN $1::float8 ELSE $2::float8 END)
  AND (locked_until IS NULL OR locked_until < now())
"""

_REFRESH_TOKENS = """
DELETE FROM refresh_tokens r
WHERE r.expires_at < now()
  AND NOT EXISTS (SELECT 1 FROM refresh_tokens n
                  WHERE n.family = r.family AND n.expires_at >= now())
"""


def _count(status: str) -> int:
    return int(status.split()[-1])


async def purge(conn: Queries, settings: GatewaySettings) -> dict[str, int]:
    """Delete the expired rows of every table; the count per table."""
    conn = labelled(conn, "purge")
    deleted = {
        "oauth_states": _count(
            await conn.execute(_OAUTH_STATES, float(settings.oauth_state_ttl_s))
        ),
        "auth_throttle": _count(
            await conn.execute(
                _AUTH_THROTTLE, float(settings.login_window_s), float(settings.register_window_s)
            )
        ),
        "refresh_tokens": _count(await conn.execute(_REFRESH_TOKENS)),
    }
    for table, count in deleted.items():
        ROWS_PURGED.labels(table).inc(count)
    if any(deleted.values()):
        log.info("expired rows purged", extra={"deleted": deleted})
    return deleted


async def purge_periodically(pool: Queries, settings: GatewaySettings) -> None:
    while True:
        # Not at startup: the pool is busiest then, and nothing is urgent.
        await asyncio.sleep(settings.purge_interval_s)
        try:
            await purge(pool, settings)
        except Exception as exc:  # an outage must not end the loop; the next round catches up
            log.warning("purge failed", extra={"error": repr(exc)})


async def _main() -> dict[str, int]:
    import asyncpg

    from schemas.settings import DatabaseSettings

    conn = await asyncpg.connect(**DatabaseSettings().asyncpg_kwargs())
    try:
        return await purge(conn, GatewaySettings())
    finally:
        await conn.close()


def main() -> None:
    """`python -m gateway.purge`: purge once and print the counts as one JSON line."""
    from schemas.logs import configure_logging

    configure_logging("gateway", "INFO")
    sys.stdout.write(json.dumps(asyncio.run(_main()), sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
