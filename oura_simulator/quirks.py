"""Oura's data as it really comes, on request (`--data-quirks`, `POST /_sim/data-quirks`).

Oura's own examples and older payloads hold what the 1.37 models rule out: daily documents
without `id`, nulls in number fields, implausible and negative sample values, keys no model
names, a field whose type changed between API versions. With data quirks on for a user, each
of their days gets some of those, always the same ones for the same day, so a test can tell
in advance which documents travel and which cannot be encoded.

Patches (`POST /_sim/patches`) set or remove fields of one served document, for tests that
need exactly one odd document in a window. Both are off by default: the default mode stays
faithful to the OpenAPI spec."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cache
from typing import Any

from oura_simulator.data import Document, UserProfile
from schemas.data_types import BY_NAME, QueryKind
from schemas.documents import avsc


class Quirk(StrEnum):
    MISSING_ID = "missing_id"
    NULL_NUMBERS = "null_numbers"
    IMPLAUSIBLE = "implausible"
    UNKNOWN_FIELDS = "unknown_fields"
    CHANGED_TYPE = "changed_type"


# Each quirk strikes every n-th day (by the day's ordinal), so any ten consecutive days hold
# every kind; a document can carry several.
_EVERY: dict[Quirk, tuple[int, int]] = {
    Quirk.MISSING_ID: (3, 0),
    Quirk.NULL_NUMBERS: (4, 1),
    Quirk.IMPLAUSIBLE: (5, 2),
    Quirk.UNKNOWN_FIELDS: (2, 1),
    Quirk.CHANGED_TYPE: (7, 3),
}

ONE_A_DAY: frozenset[str] = frozenset(
    t.name
    for t in BY_NAME.values()
    if t.query is QueryKind.DATE and t.has_id and t.period_field is None and t.day_field == "day"
)
"""Types with at most one document a day: Oura's older payloads of these came without ids."""

CHANGED_TYPES: dict[str, tuple[str, Any]] = {
    # API 1.27 typed vo2_max as a number; 1.37 promises an integer.
    "vo2_max": ("vo2_max", 47.5),
    # A count served as a decimal number, as a loosened type would.
    "daily_activity": ("steps", 8421.5),
}
"""Type changes no schema version can hold: those documents are the ones to be quarantined."""


@dataclass(frozen=True, slots=True)
class Patch:
    set_fields: dict[str, Any] = field(default_factory=dict)
    unset: tuple[str, ...] = ()


def quirks_of(type_name: str, day: date) -> frozenset[Quirk]:
    """The quirks a data-quirks user's documents of `type_name` get on `day`."""
    ordinal = day.toordinal()
    found = {q for q, (every, phase) in _EVERY.items() if ordinal % every == phase}
    if type_name not in ONE_A_DAY:
        found.discard(Quirk.MISSING_ID)
    if type_name not in CHANGED_TYPES:
        found.discard(Quirk.CHANGED_TYPE)
    return frozenset(found)


class DataQuirks:
    """Which users get quirky data, and the patches tests asked for. Thread-safe."""

    def __init__(self, everyone: bool = False) -> None:
        self._lock = threading.Lock()
        self._everyone = everyone
        self._users: dict[str, bool] = {}
        self._patches: dict[tuple[str, str, date], Patch] = {}

    def set_enabled(self, login: str | None, enabled: bool) -> None:
        """For one user, or (login None) the default of every user without a setting."""
        with self._lock:
            if login is None:
                self._everyone = enabled
                self._users.clear()
            else:
                self._users[login] = enabled

    def enabled(self, login: str) -> bool:
        with self._lock:
            return self._users.get(login, self._everyone)

    def patch(self, login: str, type_name: str, day: date, patch: Patch) -> None:
        with self._lock:
            self._patches[(login, type_name, day)] = patch

    def clear_patches(self) -> None:
        with self._lock:
            self._patches.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "everyone": self._everyone,
                "users": dict(self._users),
                "patches": [
                    {
                        "user": login,
                        "data_type": type_name,
                        "day": day.isoformat(),
                        "set": p.set_fields,
                        "unset": list(p.unset),
                    }
                    for (login, type_name, day), p in self._patches.items()
                ],
            }

    def apply(
        self, user: UserProfile, type_name: str, day: date, documents: Iterable[Document]
    ) -> list[Document]:
        """The documents as served: quirky copies where quirks or a patch apply."""
        with self._lock:
            patch = self._patches.get((user.login, type_name, day))
            quirky = self._users.get(user.login, self._everyone)
        kinds = quirks_of(type_name, day) if quirky else frozenset()
        if not kinds and patch is None:
            return list(documents)
        out = []
        for document in documents:
            changed = copy.deepcopy(document)
            for kind in Quirk:
                if kind in kinds:
                    _QUIRKS[kind](type_name, changed)
            if patch is not None:
                changed.update(copy.deepcopy(patch.set_fields))
                for name in patch.unset:
                    changed.pop(name, None)
            out.append(changed)
        return out


# --- the quirks ---------------------------------------------------------------------------------


def _missing_id(type_name: str, document: Document) -> None:
    document.pop("id", None)


@cache
def _nullable_numbers(type_name: str) -> frozenset[str]:
    """Top-level fields the schema (like the spec) lets be null."""
    record = next(f for f in avsc(type_name)["fields"] if f["name"] == "document")["type"]
    return frozenset(f["name"] for f in record["fields"] if isinstance(f["type"], list))


def _null_numbers(type_name: str, document: Document) -> None:
    for name in _nullable_numbers(type_name):
        value = document.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            document[name] = None


def _negate_some(sample: Any, count: int) -> None:
    if isinstance(sample, dict) and isinstance(sample.get("items"), list):
        items = sample["items"]
        hit = [i for i, v in enumerate(items) if isinstance(v, int | float)][:count]
        for i in hit:
            items[i] = -abs(items[i]) - 1.0


def _implausible(type_name: str, document: Document) -> None:
    if type_name == "sleep":
        document["average_heart_rate"] = 251.0
        _negate_some(document.get("hrv"), 3)
    elif type_name == "daily_activity":
        _negate_some(document.get("met"), 2)
    elif type_name in ("daily_sleep", "daily_readiness"):
        document["score"] = 140
    if type_name == "daily_readiness":
        document["temperature_deviation"] = 14.2
    if type_name == "session":
        _negate_some(document.get("heart_rate"), 2)


def _unknown_fields(type_name: str, document: Document) -> None:
    document["sleep_regularity_v3"] = {"score": 71, "confidence": "medium"}
    document["algorithm_flags"] = ["beta", 2]
    contributors = document.get("contributors")
    if isinstance(contributors, dict):
        contributors["circadian_alignment"] = 64


def _changed_type(type_name: str, document: Document) -> None:
    name, value = CHANGED_TYPES[type_name]
    document[name] = value


_QUIRKS = {
    Quirk.MISSING_ID: _missing_id,
    Quirk.NULL_NUMBERS: _null_numbers,
    Quirk.IMPLAUSIBLE: _implausible,
    Quirk.UNKNOWN_FIELDS: _unknown_fields,
    Quirk.CHANGED_TYPE: _changed_type,
}
