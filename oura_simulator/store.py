"""Which documents the API serves for a user at a given moment: builders' output filtered by
visibility, then revised for the last two days (Oura re-processes recent data after later
syncs and edits; ids stay, content changes)."""

from __future__ import annotations

import copy
from bisect import bisect_left
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from oura_simulator import builders
from oura_simulator.data import (
    HEARTRATE_SOURCES,
    Document,
    Generator,
    HeartrateDay,
    UserProfile,
    clamp,
    days,
)
from oura_simulator.quirks import DataQuirks
from oura_simulator.syncs import Edits

REVISABLE_DAYS = 2
# Older days can no longer change with the clock (rest mode lasts at most a week), so their
# documents are built once and memoised; paging re-selects the range from those on every page
# (cheap), while heart rate builds only the rows of the page asked for.
SETTLED_AFTER_DAYS = 8
_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _ceil_seconds(delta: timedelta) -> int:
    """Whole seconds s with s >= delta exactly: row offsets at or after `delta`."""
    return -(-(delta // _MICROSECOND) // 1_000_000)


@lru_cache(maxsize=1)
def _clock_strings() -> tuple[str, ...]:
    """Every second of a day as HH:MM:SS (5 MB, built once): formatting the ~900k heart-rate
    timestamps of a five-year backfill becomes a lookup."""
    return tuple(f"{s // 3_600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400))


def heartrate_documents(hr: HeartrateDay, low: int, high: int) -> list[Document]:
    """Rows low..high-1 of a day as API documents (`builders.heartrate_row`, in bulk)."""
    clock = _clock_strings()
    prefix = hr.day.isoformat() + "T"
    base_ms = (hr.day.toordinal() - _EPOCH_ORDINAL) * 86_400_000
    sources = HEARTRATE_SOURCES
    return [
        {
            "bpm": bpm,
            "source": sources[code],
            "timestamp": prefix + clock[offset] + "+00:00",
            "timestamp_unix": base_ms + offset * 1_000,
        }
        for offset, bpm, code in zip(
            hr.offsets[low:high], hr.bpm[low:high], hr.sources[low:high], strict=True
        )
    ]


class DocumentStore:
    def __init__(
        self, generator: Generator, quirks: DataQuirks | None = None, edits: Edits | None = None
    ) -> None:
        self.generator = generator
        self.quirks = quirks or DataQuirks()
        self.edits = edits or Edits()
        self._settled = lru_cache(maxsize=32_768)(self._settled_uncached)

    def _settled_uncached(
        self, user: UserProfile, type_name: str, day: date
    ) -> tuple[Document, ...]:
        timed = builders.DAY_BUILDERS[type_name](self.generator, user, day, _END_OF_TIME)
        return tuple(t.document for t in timed)

    def local_today(self, user: UserProfile, now: datetime) -> date:
        return now.astimezone(user.tz).date()

    def for_day(
        self, user: UserProfile, type_name: str, day: date, now: datetime, revision: int
    ) -> list[Document]:
        today = self.local_today(user, now)
        if day < user.data_since or day > today:
            return []
        edits = self.edits.of(user.login, type_name, day)
        if day < today - timedelta(days=SETTLED_AFTER_DAYS):
            documents = list(self._settled(user, type_name, day))
            revision = 0
        else:
            timed = builders.DAY_BUILDERS[type_name](self.generator, user, day, now)
            documents = [t.document for t in timed if t.available_at <= now]
            if day <= today - timedelta(days=REVISABLE_DAYS):
                revision = 0
        if edits is not None:
            # A sync's re-processing persists once the day leaves the revisable window.
            revision += edits.revision
        if revision:
            documents = [self._revise(user, type_name, day, d, revision) for d in documents]
        if edits is not None:
            documents = edits.apply(documents)
        return self.quirks.apply(user, type_name, day, documents)

    def for_days(
        self,
        user: UserProfile,
        type_name: str,
        start: date,
        end: date,
        now: datetime,
        revision: int,
    ) -> list[Document]:
        """Every visible document attributed to a day in [start, end] (inclusive)."""
        first = max(start, user.data_since)
        last = min(end, self.local_today(user, now))
        out: list[Document] = []
        for day in days(first, last):
            out.extend(self.for_day(user, type_name, day, now, revision))
        return out

    def heartrate(
        self, user: UserProfile, start: datetime, end: datetime, now: datetime
    ) -> list[Document]:
        """Rows with start <= timestamp < end that have happened by `now` (UTC)."""
        rows, _ = self.heartrate_slice(user, start, end, now)
        return rows

    def heartrate_slice(
        self,
        user: UserProfile,
        start: datetime,
        end: datetime,
        now: datetime,
        offset: int = 0,
        limit: int | None = None,
        *,
        latest: bool = False,
    ) -> tuple[list[Document], int]:
        """Rows offset .. offset+limit-1 of `heartrate(user, start, end, now)` (only the last
        row when `latest`), and how many rows the whole query has. Only the requested rows are
        turned into documents, so paging through a long range costs each row once."""
        end = min(end, now + timedelta(microseconds=1))
        first = max(start.date() - timedelta(days=1), user.data_since - timedelta(days=1))
        spans: list[tuple[HeartrateDay, int, int]] = []
        for day in days(first, end.date()):
            midnight = datetime.combine(day, time(0), UTC)
            hr = self.generator.heartrate_day(user, day)
            low = bisect_left(hr.offsets, _ceil_seconds(start - midnight))
            high = bisect_left(hr.offsets, _ceil_seconds(end - midnight))
            if low < high:
                spans.append((hr, low, high))
        total = sum(high - low for _, low, high in spans)
        if latest and spans:
            hr, _, high = spans[-1]
            spans, total = [(hr, high - 1, high)], 1
        remaining = total - offset if limit is None else min(limit, total - offset)
        out: list[Document] = []
        for hr, low, high in spans:
            if remaining <= 0:
                break
            if offset >= high - low:
                offset -= high - low
                continue
            take = min(high - low - offset, remaining)
            out.extend(heartrate_documents(hr, low + offset, low + offset + take))
            remaining -= take
            offset = 0
        return out, total

    def find(
        self, user: UserProfile, type_name: str, document_id: str, now: datetime, revision: int
    ) -> Document | None:
        if type_name == "ring_configuration":
            candidates = builders.ring_configurations(self.generator, user, now)
        else:
            day = self.generator.day_of_id(user, document_id)
            if day is None:
                return None
            candidates = self.for_day(user, type_name, day, now, revision)
        return next((d for d in candidates if d.get("id") == document_id), None)

    def _revise(
        self, user: UserProfile, type_name: str, day: date, document: Document, revision: int
    ) -> Document:
        rng = self.generator.rng(user, "revision", type_name, day.toordinal(), revision)
        delta = rng.choice((-3, -2, -1, 1, 2, 3))
        revised = copy.deepcopy(document)
        if type_name in ("daily_sleep", "daily_readiness") and revised["score"] is not None:
            revised["score"] = clamp(revised["score"] + delta)
        if type_name == "daily_readiness" and revised["temperature_deviation"] is not None:
            revised["temperature_deviation"] = round(
                revised["temperature_deviation"] + 0.01 * delta, 2
            )
        if type_name == "sleep":
            revised["sleep_analysis_reason"] = "bedtime_edit"
            if revised["average_hrv"] is not None:
                revised["average_hrv"] = max(1, revised["average_hrv"] + delta)
            if revised["readiness"] is not None and revised["readiness"]["score"] is not None:
                revised["readiness"]["score"] = clamp(revised["readiness"]["score"] + delta)
        if type_name == "daily_activity":
            revised["steps"] += 40 * revision + rng.randint(0, 30)
            revised["active_calories"] += 2 * revision
            revised["total_calories"] += 2 * revision
        if type_name == "daily_stress" and revised["stress_high"] is not None:
            revised["stress_high"] += 300 * revision
        if type_name == "daily_spo2" and revised["breathing_disturbance_index"] is not None:
            revised["breathing_disturbance_index"] = clamp(
                revised["breathing_disturbance_index"] + abs(delta), 0
            )
        if type_name == "daily_resilience":
            contributors = revised["contributors"]
            contributors["stress"] = round(min(100.0, max(0.0, contributors["stress"] + delta)), 1)
        return revised
