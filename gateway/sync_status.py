"""Sync status as Prometheus metrics, read from PostgreSQL on a timer.

The collector is a daily CronJob: its own gauges vanish with its pod, so "no successful sync for
a user and data type in 26 h" cannot be alerted on from them. `collection_cursors` and
`oauth_tokens` hold the truth between runs; the gateway, long-running, reads them and exports
them. No series names a user: stale collections are counted per data type (who is behind is in
the database, which the pipeline dashboard reads). Several replicas export the same values:
alerts aggregate with max.

Refreshing on each scrape let every Prometheus server (and anyone reaching /metrics) cost the
database a query set per scrape; on a timer it costs one set per replica per interval, and a
scrape only reads memory."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from prometheus_client import Gauge

from oura_connection import connections_by_status
from schemas.db import Pool, labelled
from schemas.tables import collection_cursors

log = logging.getLogger("gateway.sync_status")

STALE = Gauge(
    "myhealth_sync_stale_cursors",
    "Users per data type whose last successful collection is older than 26 hours",
    ["data_type"],
    multiprocess_mode="max",
)
OLDEST_SUCCESS = Gauge(
    "myhealth_sync_oldest_success_timestamp_seconds",
    "Unix time of the least recent last successful collection, per data type",
    ["data_type"],
    multiprocess_mode="min",
)
CURSORS = Gauge(
    "myhealth_sync_cursors",
    "Collection cursors (user x data type) by status: ok | failed | not_granted",
    ["status"],
    multiprocess_mode="max",
)
CONNECTIONS = Gauge(
    "myhealth_oura_connections",
    "Oura connections by status: active | needs_reauth | revoked",
    ["status"],
    multiprocess_mode="max",
)
REFRESH_FAILING = Gauge(
    "myhealth_oura_connections_refresh_failing",
    "Oura connections whose last token refresh failed (refresh_failures > 0)",
    multiprocess_mode="max",
)
REFRESHED = Gauge(
    "myhealth_sync_status_refreshed_timestamp_seconds",
    "Unix time the sync status metrics were last read from the database",
    multiprocess_mode="max",
)

CURSOR_STATUSES = ("ok", "failed", "not_granted")
CONNECTION_STATUSES = ("active", "needs_reauth", "revoked")
MIN_INTERVAL_S = 15.0
STALE_AFTER_S = 26 * 3600.0


@dataclass
class _State:
    read_at: float = 0.0
    series: set[str] = field(default_factory=set)
    """Data types exported last time: one that has no cursor left any more is removed."""


_state = _State()


async def refresh_periodically(pool: Pool, interval_s: float) -> None:
    while True:
        try:
            await refresh_sync_status(pool, min_interval_s=0)
        except Exception as exc:  # an outage must not end the loop; the gauges just age
            log.warning("sync status unavailable", extra={"error": repr(exc)})
        await asyncio.sleep(interval_s)


async def refresh_sync_status(pool: Pool, *, min_interval_s: float = MIN_INTERVAL_S) -> None:
    """Re-read sync status from the database unless it was read in the last `min_interval_s`
    seconds (scrapes by several Prometheus servers cost one query set)."""
    now = time.monotonic()
    if now - _state.read_at < min_interval_s:
        return
    _state.read_at = now
    async with labelled(pool, "refresh_sync_status").acquire() as conn:
        by_type = await collection_cursors.summary_by_type(conn, stale_after_s=STALE_AFTER_S)
        counts = await collection_cursors.count_by_status(conn)
        connections = await connections_by_status(conn)
    _set_last_success(by_type)
    for status in CURSOR_STATUSES:
        CURSORS.labels(status).set(counts.get(status, 0))
    by_status = {c.status: c.connections for c in connections}
    for status in CONNECTION_STATUSES:
        CONNECTIONS.labels(status).set(by_status.get(status, 0))
    REFRESH_FAILING.set(sum(c.refresh_failing for c in connections if c.status == "active"))
    REFRESHED.set(time.time())


def _set_last_success(values: dict[str, collection_cursors.TypeSummary]) -> None:
    for gone in _state.series - values.keys():  # no cursor of this type left
        OLDEST_SUCCESS.remove(gone)
        STALE.remove(gone)
    for data_type, summary in values.items():
        OLDEST_SUCCESS.labels(data_type).set(summary.oldest_success)
        STALE.labels(data_type).set(summary.stale)
    _state.series = set(values)
