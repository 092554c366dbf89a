"""What a ring sync changes: documents created now, documents re-processed (same id, new content)
and documents deleted, kept as edits on top of the generated data so every route serves them.

Generated data is a pure function of (seed, user, day); a sync cannot change that function, so
its effects live here, per (user, type, day): the documents it created, how many times it revised
the day, and the ids deleted. `DocumentStore.for_day` applies them, which makes the list route,
the single-document route and `/_sim/documents` agree. New documents are drawn from the seeded
generator keyed by the user's sync count, so the same syncs give the same documents."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from oura_simulator.data import Document, Generator, UserProfile, iso, iso_ms

CREATED_BY_SYNC = ("session", "workout", "enhanced_tag")
"""Types a sync adds a new document to (several a day are normal for them)."""
REVISED_BY_SYNC = (
    "daily_activity",
    "daily_sleep",
    "daily_readiness",
    "sleep",
    "daily_stress",
    "daily_spo2",
    "daily_resilience",
)
"""Types a sync re-processes: the latest day's documents keep their ids and change content."""
SYNC_TYPES = CREATED_BY_SYNC + REVISED_BY_SYNC
DEFAULT_SYNC_TYPES = ("session", "daily_activity")
"""A phone sync in miniature: one new session, today's activity re-counted."""


@dataclass(slots=True)
class DayEdits:
    revision: int = 0
    created: list[Document] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)

    def apply(self, documents: list[Document]) -> list[Document]:
        kept = (
            [d for d in documents if d.get("id") not in self.deleted] if self.deleted else documents
        )
        return kept + [d for d in self.created if d["id"] not in self.deleted]


class Edits:
    """The edits of every user's days. Thread-safe; reads are one dict lookup."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._days: dict[tuple[str, str, date], DayEdits] = {}
        self._syncs: dict[str, int] = {}

    def of(self, login: str, type_name: str, day: date) -> DayEdits | None:
        with self._lock:
            return self._days.get((login, type_name, day))

    def next_sync(self, login: str) -> int:
        """Count one more sync of `login`'s ring; returns its number (1, 2, ...)."""
        with self._lock:
            self._syncs[login] = self._syncs.get(login, 0) + 1
            return self._syncs[login]

    def add(self, login: str, type_name: str, day: date, document: Document) -> None:
        with self._lock:
            self._days.setdefault((login, type_name, day), DayEdits()).created.append(document)

    def revise(self, login: str, type_name: str, day: date) -> None:
        with self._lock:
            self._days.setdefault((login, type_name, day), DayEdits()).revision += 1

    def delete(self, login: str, type_name: str, day: date, document_id: str) -> None:
        with self._lock:
            self._days.setdefault((login, type_name, day), DayEdits()).deleted.add(document_id)


# -- documents a sync creates ----------------------------------------------------------------------

NewDocument = Callable[[Generator, UserProfile, datetime, int], Document]


def new_session(gen: Generator, user: UserProfile, now: datetime, number: int) -> Document:
    """A meditation or breathing session that ended at `now`."""
    rng = gen.rng(user, "sync", "session", number)
    count = int(rng.uniform(5, 15) * 12)  # 5-second samples
    end = now.astimezone(user.tz).replace(microsecond=0)
    start = end - timedelta(seconds=5 * count)
    day = start.date()
    core = gen.core(user, day)
    heart_rate = [
        float(round(core.rhr + 8 - 6 * i / count + rng.gauss(0, 1.5))) for i in range(count)
    ]
    hrv = [float(round(core.hrv * (0.9 + 0.3 * i / count))) for i in range(count)]
    motion = [float(rng.choice((0, 0, 0, 1))) for _ in range(count)]
    stamp = iso_ms(start)
    return {
        "id": gen.doc_id(user, "session", day, "sync", number),
        "day": day.isoformat(),
        "end_datetime": iso(end),
        "heart_rate": {"interval": 5.0, "items": heart_rate, "timestamp": stamp},
        "heart_rate_variability": {"interval": 5.0, "items": hrv, "timestamp": stamp},
        "mood": rng.choice((None, "good", "great", "same")),
        "motion_count": {"interval": 5.0, "items": motion, "timestamp": stamp},
        "start_datetime": iso(start),
        "type": rng.choice(("meditation", "breathing", "relaxation", "rest")),
    }


def new_workout(gen: Generator, user: UserProfile, now: datetime, number: int) -> Document:
    """A walk or run that ended at `now`, as the ring's automatic detection records it."""
    rng = gen.rng(user, "sync", "workout", number)
    activity, met, speed = rng.choice((("walking", 3.5, 1.35), ("running", 9.5, 2.9)))
    end = now.astimezone(user.tz).replace(microsecond=0)
    start = end - timedelta(minutes=round(rng.uniform(15, 50)))
    hours = (end - start).total_seconds() / 3_600
    return {
        "id": gen.doc_id(user, "workout", start.date(), "sync", number),
        "activity": activity,
        "calories": round((met - 1) * user.weight * hours, 1),
        "day": start.date().isoformat(),
        "distance": round(speed * hours * 3_600, 1),
        "end_datetime": iso(end),
        "intensity": "hard" if met >= 8 else "easy",
        "label": None,
        "source": "autodetected",
        "start_datetime": iso(start),
    }


def new_tag(gen: Generator, user: UserProfile, now: datetime, number: int) -> Document:
    """A tag added in the app at `now`."""
    rng = gen.rng(user, "sync", "enhanced_tag", number)
    start = now.astimezone(user.tz).replace(second=0, microsecond=0)
    code = rng.choice(("tag_generic_caffeine", "tag_generic_alcohol", "tag_generic_late_meal"))
    return {
        "id": gen.doc_id(user, "enhanced_tag", start.date(), "sync", number),
        "tag_type_code": code,
        "start_time": iso(start),
        "end_time": None,
        "start_day": start.date().isoformat(),
        "end_day": None,
        "comment": "",
        "custom_name": None,
    }


NEW_DOCUMENT: dict[str, NewDocument] = {
    "session": new_session,
    "workout": new_workout,
    "enhanced_tag": new_tag,
}


def day_of(type_name: str, document: Document) -> date:
    """The day a created document is filed under (the day its id encodes)."""
    return date.fromisoformat(document["start_day" if type_name == "enhanced_tag" else "day"])
