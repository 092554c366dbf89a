"""One request budget for the whole process: at most N requests in any rolling window, plus a
shared pause when Oura says 429 (the per-application limit is shared by every user's token)."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from collector.metrics import RATE_LIMIT_WAIT_SECONDS


class RateLimiter:
    def __init__(self, max_requests: int, window_s: float) -> None:
        if max_requests < 1 or window_s <= 0:
            raise ValueError("rate limit needs max_requests >= 1 and window_s > 0")
        self.max_requests = max_requests
        self.window_s = window_s
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.total_requests = 0

    def pause(self, seconds: float) -> None:
        """Hold every request back for `seconds` (Oura's Retry-After)."""
        self._paused_until = max(self._paused_until, time.monotonic() + max(0.0, seconds))

    async def acquire(self) -> None:
        """Wait until one more request fits in the budget, and count it."""
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._sent and self._sent[0] <= now - self.window_s:
                    self._sent.popleft()
                wait = self._paused_until - now
                if len(self._sent) >= self.max_requests:
                    wait = max(wait, self._sent[0] + self.window_s - now)
                if wait <= 0:
                    self._sent.append(now)
                    self.total_requests += 1
                    return
                RATE_LIMIT_WAIT_SECONDS.inc(wait)
                await asyncio.sleep(wait)
