"""The sync-status gauges (collector.sync_status), refreshed from PostgreSQL on a timer.

Refreshing on each scrape let every Prometheus server (and anyone reaching /metrics) cost the
database a query set per scrape; on a timer it costs one set per replica per interval, and a
scrape only reads memory."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from collector.sync_status import refresh_sync_status

log = logging.getLogger("gateway.sync_status")


async def refresh_periodically(pool: Any, interval_s: float) -> None:
    while True:
        try:
            await refresh_sync_status(pool, min_interval_s=0)
        except Exception as exc:  # an outage must not end the loop; the gauges just age
            log.warning("sync status unavailable", extra={"error": repr(exc)})
        await asyncio.sleep(interval_s)
