"""Injected failures and the request budget. Bursts are queued and consumed one response at a
time, so a test can say 'the next 3 data requests get 429' and then watch the client recover."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Literal

Scope = Literal["data", "oauth", "all"]
MalformedKind = Literal["invalid_json", "missing_data"]
SCOPES: tuple[str, ...] = ("data", "oauth", "all")
MALFORMED_KINDS: tuple[str, ...] = ("invalid_json", "missing_data")


@dataclass(slots=True)
class Burst:
    status: int
    remaining: int
    retry_after: int | None = None
    tier: str = "application"
    scope: str = "data"
    user: str | None = None
    """Only requests authenticated as this login (None: everyone)."""


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bursts: deque[Burst] = deque()
        self._malformed: deque[tuple[str, str | None]] = deque()
        self.latency_s = 0.0
        self.latency_scope: str = "data"

    def rate_limit_burst(
        self,
        count: int,
        *,
        retry_after: int = 1,
        tier: str = "application",
        scope: Scope = "data",
        user: str | None = None,
    ) -> None:
        """The next `count` matching requests answer 429 with Retry-After and X-RateLimit-*."""
        self._add(Burst(429, count, retry_after, tier, _check_scope(scope), user))

    def server_error_burst(
        self, count: int, *, status: int = 503, scope: Scope = "data", user: str | None = None
    ) -> None:
        """The next `count` matching requests answer `status` (5xx)."""
        if not 500 <= status <= 599:
            raise ValueError("server_error_burst needs a 5xx status")
        self._add(Burst(status, count, None, "application", _check_scope(scope), user))

    def malformed_pages(
        self, count: int, *, kind: MalformedKind = "invalid_json", user: str | None = None
    ) -> None:
        """The next `count` successful list pages are broken: truncated JSON or no `data`."""
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"kind must be one of {MALFORMED_KINDS}")
        with self._lock:
            self._malformed.extend([(kind, user)] * count)

    def latency(self, seconds: float, *, scope: Scope = "data") -> None:
        """Delay every matching response by `seconds` (0 turns it off)."""
        with self._lock:
            self.latency_s = max(0.0, seconds)
            self.latency_scope = _check_scope(scope)

    def clear(self) -> None:
        with self._lock:
            self._bursts.clear()
            self._malformed.clear()
            self.latency_s = 0.0
            self.latency_scope = "data"

    def delay_for(self, scope: str) -> float:
        with self._lock:
            return self.latency_s if _matches(self.latency_scope, scope) else 0.0

    def take_burst(self, scope: str, user: str | None) -> Burst | None:
        with self._lock:
            for burst in self._bursts:
                if _matches(burst.scope, scope) and burst.user in (None, user):
                    burst.remaining -= 1
                    if burst.remaining <= 0:
                        self._bursts.remove(burst)
                    return burst
            return None

    def take_malformed(self, user: str | None) -> str | None:
        with self._lock:
            for item in self._malformed:
                if item[1] in (None, user):
                    self._malformed.remove(item)
                    return item[0]
            return None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "bursts": [asdict(b) for b in self._bursts],
                "malformed_pages": [{"kind": k, "user": u} for k, u in self._malformed],
                "latency_s": self.latency_s,
                "latency_scope": self.latency_scope,
            }

    def _add(self, burst: Burst) -> None:
        if burst.remaining <= 0:
            return
        with self._lock:
            self._bursts.append(burst)


def _check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}")
    return scope


def _matches(configured: str, actual: str) -> bool:
    return configured == "all" or configured == actual


class SlidingWindow:
    """A rolling request budget (Oura: 5,000 per 300 s per application)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float) -> tuple[bool, int, float]:
        """Count one request; returns (allowed, remaining, epoch when fully restored)."""
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            allowed = len(hits) < self.limit
            if allowed:
                hits.append(now)
            reset = (hits[-1] if hits else now) + self.window_s
            return allowed, max(0, self.limit - len(hits)), reset

    def retry_after(self, key: str, now: float) -> float:
        with self._lock:
            hits = self._hits.get(key)
            if not hits:
                return 0.0
            return max(0.0, hits[0] + self.window_s - now)
