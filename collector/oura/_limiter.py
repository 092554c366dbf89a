"""The Oura request budget: at most N requests in any rolling window, plus a pause when Oura
says 429 (the per-application limit is shared by every user's token).

Alone, a limiter keeps the budget of its process. Given a `SharedBudget`, it keeps one budget
for every process of the application (scheduled runs, backfills, the webhook fetcher): a token
bucket in PostgreSQL (`oura_rate_budget`, one row per Oura client id), taken in chunks so that a
request costs a database round trip only once per chunk; a 429 seen by one process pauses all
of them. When the database does not answer, the limiter falls back to its own window."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from collector.metrics import RATE_LIMIT_WAIT_SECONDS
from schemas.db import Queries

log = logging.getLogger("collector.oura")

_TAKE = """
WITH current AS (
    SELECT CASE WHEN $5::float8 > 0 THEN LEAST(level, -$5::float8 * $3::float8) ELSE level END
           AS available
    FROM (
        SELECT LEAST($2::float8, tokens + GREATEST(0::float8,
                     EXTRACT(EPOCH FROM clock_timestamp() - updated_at)::float8) * $3::float8)
               AS level
        FROM oura_rate_budget WHERE name = $1 FOR UPDATE
    ) AS refilled
), granted AS (
    SELECT available, LEAST($4::int, GREATEST(0::float8, floor(available))::int) AS tokens
    FROM current
)
UPDATE oura_rate_budget AS b
SET tokens = g.available - g.tokens, updated_at = clock_timestamp()
FROM granted AS g
WHERE b.name = $1
RETURNING g.tokens AS granted, g.available AS available
"""


class SharedBudget:
    """A token bucket that never lets more than `max_requests` through in any `window_s`, across
    processes: it holds half the budget (a daily run's burst goes through at once) and refills
    the other half evenly over the window, so burst plus refill within any window stay within
    the limit."""

    def __init__(
        self, pool: Queries, name: str, max_requests: int, window_s: float, *, chunk: int = 10
    ) -> None:
        self.pool = pool
        self.name = name
        self.capacity = float(max(1, max_requests // 2))
        self.rate = (max_requests - self.capacity) / window_s or max_requests / window_s
        self.chunk = max(1, min(chunk, int(self.capacity)))
        self._seeded = False

    async def take(self, wanted: int, pause_s: float = 0.0) -> tuple[int, float]:
        """(tokens granted, up to `wanted`; seconds until one is available when none were).
        `pause_s` > 0 empties the bucket for that long, for every process."""
        if not self._seeded:
            await self.pool.execute(
                "INSERT INTO oura_rate_budget (name, tokens) VALUES ($1, $2) "
                "ON CONFLICT (name) DO NOTHING",
                self.name,
                self.capacity,
            )
            self._seeded = True
        row = await self.pool.fetchrow(
            _TAKE, self.name, self.capacity, self.rate, wanted, max(0.0, pause_s)
        )
        assert row is not None, "the budget row was seeded above"
        granted = int(row["granted"])
        if granted:
            return granted, 0.0
        return 0, max(0.001, (1.0 - float(row["available"])) / self.rate)


class RateLimiter:
    def __init__(
        self, max_requests: int, window_s: float, budget: SharedBudget | None = None
    ) -> None:
        if max_requests < 1 or window_s <= 0:
            raise ValueError("rate limit needs max_requests >= 1 and window_s > 0")
        self.max_requests = max_requests
        self.window_s = window_s
        self.budget = budget
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._pause_to_share = 0.0
        self._held = 0
        self._lock = asyncio.Lock()
        self.total_requests = 0

    def pause(self, seconds: float) -> None:
        """Hold every request back for `seconds` (Oura's Retry-After); with a shared budget,
        every process's requests from the next chunk on."""
        seconds = max(0.0, seconds)
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        self._pause_to_share = max(self._pause_to_share, seconds)
        self._held = 0

    async def acquire(self) -> None:
        """Wait until one more request fits in the budget, and count it."""
        async with self._lock:
            while True:
                wait = self._paused_until - time.monotonic()
                if wait <= 0:
                    wait = await self._from_budget() if self.budget else self._from_window()
                if wait <= 0:
                    self.total_requests += 1
                    return
                RATE_LIMIT_WAIT_SECONDS.inc(wait)
                await asyncio.sleep(wait)

    def _from_window(self) -> float:
        """0 when a request fits in this process's rolling window (and counts it there), else
        the seconds until one does."""
        now = time.monotonic()
        while self._sent and self._sent[0] <= now - self.window_s:
            self._sent.popleft()
        if len(self._sent) >= self.max_requests:
            return self._sent[0] + self.window_s - now
        self._sent.append(now)
        return 0.0

    async def _from_budget(self) -> float:
        assert self.budget is not None
        if self._held > 0:
            self._held -= 1
            return 0.0
        pause, self._pause_to_share = self._pause_to_share, 0.0
        try:
            granted, wait = await self.budget.take(self.budget.chunk, pause)
        except Exception as exc:  # the database away must not stop collection: own window
            self._pause_to_share = max(self._pause_to_share, pause)
            log.warning(
                "shared Oura budget unavailable; using this process's own",
                extra={"error": type(exc).__name__},
            )
            return self._from_window()
        if not granted:
            return wait
        self._held = granted - 1
        return 0.0
