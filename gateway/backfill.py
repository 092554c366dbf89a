"""How a new Oura connection gets its history.

Always: the callback leaves the user's `collection_cursors` as they are — empty for a first
connection — and the next collector run (CronJob) backfills a user without cursors over
COLLECTOR_INITIAL_DAYS. With GATEWAY_BACKFILL_ON_CONNECT=true the gateway additionally starts
`python -m collector backfill --user <id> --since <today - GATEWAY_BACKFILL_DAYS>` as a detached
background process right away, so the first data arrives within minutes. The gateway publishes
nothing to Kafka itself."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

log = logging.getLogger("gateway.backfill")


def backfill_command(user_id: UUID, days: int) -> list[str]:
    since = (datetime.now(UTC).date() - timedelta(days=days)).isoformat()
    return [sys.executable, "-m", "collector", "backfill", "--user", str(user_id), "--since", since]


async def start_backfill(user_id: UUID, days: int, running: set[Any]) -> bool:
    """Spawn the backfill; False when it could not be started (the CronJob will still do it)."""
    command = backfill_command(user_id, days)
    try:
        process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.DEVNULL, start_new_session=True
        )
    except OSError as exc:
        log.warning("could not start backfill", extra={"user_id": str(user_id), "error": str(exc)})
        return False
    task = asyncio.create_task(_reap(process, user_id))
    running.add(task)
    task.add_done_callback(running.discard)
    log.info("backfill started", extra={"user_id": str(user_id), "pid": process.pid})
    return True


async def _reap(process: asyncio.subprocess.Process, user_id: UUID) -> None:
    code = await process.wait()
    level = logging.INFO if code == 0 else logging.WARNING
    log.log(level, "backfill finished", extra={"user_id": str(user_id), "exit_code": code})
