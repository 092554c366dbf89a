"""The simulator's wall clock: real UTC by default, fixable and advanceable by tests, so token
expiry, code expiry, 'today' and which documents exist yet all follow one notion of time."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta


class Clock:
    def __init__(self, fixed: datetime | None = None, today: date | None = None) -> None:
        if fixed is None and today is not None:
            fixed = datetime.combine(today, time(12, 0), UTC)
        if fixed is not None and fixed.tzinfo is None:
            raise ValueError("a fixed clock needs a timezone-aware datetime")
        self._fixed = fixed
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            base = self._fixed if self._fixed is not None else datetime.now(UTC)
            return (base + self._offset).astimezone(UTC)

    def today(self) -> date:
        return self.now().date()

    def timestamp(self) -> float:
        return self.now().timestamp()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)

    def set(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware datetime")
        with self._lock:
            self._fixed = now
            self._offset = timedelta()
