"""Per-process caches of "this user exists" and of rendered dashboards.

They make an authenticated dashboard request cost no database round trip on a hit. Safety
against stale entries across replicas comes from PostgreSQL LISTEN/NOTIFY: every replica listens
on `myhealth_user_changed` and drops a user's entries when anyone announces a change (account
deleted, Oura connected or disconnected, new data). While the listening connection is down the
caches are off, so a missed notification can never keep a deleted account usable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from schemas.tables.channels import USER_CHANGED_CHANNEL

log = logging.getLogger("gateway.cache")
MAX_ENTRIES = 200_000


class UserCache:
    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self.listening = False
        self._users: dict[UUID, tuple[float, int]] = {}
        """User id -> (expiry, token version): the account exists and accepts tokens of this
        version; a logout or password change anywhere drops it through NOTIFY."""
        self._dashboards: dict[UUID, tuple[float, date, bytes]] = {}
        self.loading: dict[UUID, asyncio.Future[bytes]] = {}
        """Dashboards being computed: concurrent misses for one user share one query."""
        # Bumped by every invalidation: an entry computed from a read that started before an
        # invalidation is not stored (the read may have seen the old state).
        self.epoch = 0

    @property
    def enabled(self) -> bool:
        return self.listening and self.ttl_s > 0

    def token_version(self, user_id: UUID) -> int | None:
        """The cached token version of an existing account, or None (not cached)."""
        entry = self._users.get(user_id)
        if not self.enabled or entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def remember_user(self, user_id: UUID, version: int, epoch: int) -> None:
        if self.enabled and epoch == self.epoch:
            self._bound(self._users)
            self._users[user_id] = (self._expiry(), version)

    def dashboard(self, user_id: UUID, as_of: date) -> bytes | None:
        entry = self._dashboards.get(user_id)
        if not self.enabled or entry is None:
            return None
        expiry, day, body = entry
        return body if expiry > time.monotonic() and day == as_of else None

    def remember_dashboard(self, user_id: UUID, as_of: date, body: bytes, epoch: int) -> None:
        if self.enabled and epoch == self.epoch:
            self._bound(self._dashboards)
            self._dashboards[user_id] = (self._expiry(), as_of, body)

    def invalidate(self, user_id: UUID | None) -> None:
        self.epoch += 1
        if user_id is None:
            self.clear()
            return
        self._users.pop(user_id, None)
        self._dashboards.pop(user_id, None)

    def clear(self) -> None:
        self.epoch += 1
        self._users.clear()
        self._dashboards.clear()

    def _expiry(self) -> float:
        # Jittered, so entries filled in the same burst do not all expire in the same instant.
        return time.monotonic() + self.ttl_s * random.uniform(0.8, 1.0)

    @staticmethod
    def _bound(entries: dict[UUID, Any]) -> None:
        if len(entries) >= MAX_ENTRIES:
            entries.clear()


class InvalidationListener:
    """Keeps one connection LISTENing; reconnects with backoff, caches off while it is down."""

    def __init__(self, cache: UserCache, connect_kwargs: dict[str, Any]) -> None:
        self._cache = cache
        self._kwargs = connect_kwargs
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    async def start(self) -> None:
        if self._cache.ttl_s <= 0:
            return
        self._task = asyncio.create_task(self._run(), name="cache-invalidation")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close()

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._listen()
                delay = 0.5
                await self._lost.wait()
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                log.warning("cache invalidation listener down", extra={"error": str(exc)})
            self._cache.listening = False
            self._cache.clear()
            await self._close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _listen(self) -> None:
        self._lost.clear()
        self._conn = await asyncpg.connect(**self._kwargs, timeout=10)
        self._conn.add_termination_listener(lambda _conn: self._lost.set())
        await self._conn.add_listener(USER_CHANGED_CHANNEL, self._on_notify)
        self._cache.clear()
        self._cache.listening = True

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == "*":
            self._cache.clear()
            return
        try:
            self._cache.invalidate(UUID(payload))
        except ValueError:
            self._cache.clear()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)
