"""The simulator's fast paths serve exactly what plain generation gives: memoised documents,
bulk heart-rate rows, paged slices and the inlined MET walk change speed, never values."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from oura_simulator import Simulator, SimulatorConfig, builders
from oura_simulator import data as simulator_data
from oura_simulator.data import Generator, days
from schemas.data_types import DATA_TYPES

NOW = datetime(2025, 3, 15, 9, 41, 27, tzinfo=UTC)  # mid-morning: today is partly visible
FIRST, LAST = date(2025, 1, 1), date(2025, 3, 16)
# SHA-256 of everything below, recorded with the generator as it was before any caching or
# bulk generation existed. If a deliberate change of the data model moves it, update it here.
PINNED = "3a318979129fdfd97eea0c332db486099b76b14a0aae4b577d4ee37406bdbe21"


def _simulator() -> Simulator:
    return Simulator(SimulatorConfig(now=NOW, users=2, history_days=70, seed=42))


def _everything(sim: Simulator) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for login in ("demo", "demo2"):
        for revision in (0, 1):
            for data_type in DATA_TYPES:
                key = f"{login}|{revision}|{data_type.name}"
                out[key] = sim.documents(login, data_type.name, FIRST, LAST)
            sim.bump_revision(login)
    return out


def _digest(documents: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(documents, sort_keys=True).encode()).hexdigest()


def test_served_documents_match_the_pinned_digest() -> None:
    assert _digest(_everything(_simulator())) == PINNED


def test_memoised_documents_equal_a_cold_generation() -> None:
    sim = _simulator()
    cold = _everything(sim)
    sim.bump_revision(by=-2)  # back to revision 0: the second pass reads the caches
    assert _everything(sim) == cold
    assert _everything(_simulator()) == cold


def test_documents_equal_building_each_day_with_a_fresh_generator() -> None:
    sim = _simulator()
    user = sim.user("demo")
    for type_name, builder in builders.DAY_BUILDERS.items():
        served = sim.documents("demo", type_name, date(2025, 2, 20), date(2025, 3, 15))
        rebuilt = [
            timed.document
            for day in days(date(2025, 2, 20), date(2025, 3, 15))
            for timed in builder(Generator(sim.config.seed), user, day, NOW)
            if timed.available_at <= NOW
        ]
        assert served == rebuilt, type_name


def test_heartrate_pages_and_bulk_rows_equal_row_by_row_building() -> None:
    sim = _simulator()
    user = sim.user("demo")
    start = datetime(2025, 3, 10, 7, 30, 0, 500_000, tzinfo=UTC)  # not on a row
    end = NOW
    full = sim.store.heartrate(user, start, end, NOW)
    fresh = Generator(sim.config.seed)
    expected = [
        builders.heartrate_row(moment, bpm, source)
        for day in days(start.date(), end.date())
        for moment, bpm, source in fresh.heartrate_rows(user, day)
        if start <= moment < end
    ]
    assert full == expected
    pages: list[dict[str, Any]] = []
    offset, total = 0, len(full)
    while offset < total:
        page, total = sim.store.heartrate_slice(user, start, end, NOW, offset, 97)
        pages.extend(page)
        offset += 97
    assert pages == full
    latest, count = sim.store.heartrate_slice(user, start, end, NOW, 0, 10, latest=True)
    assert (latest, count) == (full[-1:], 1)


def test_inlined_met_walk_equals_the_plain_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    assert simulator_data._INLINE_GAUSS  # CPython's Random.gauss is the copied algorithm
    user = _simulator().user("demo")
    span = [date(2025, 3, 15) - timedelta(days=k) for k in range(30)]
    fast = [Generator(42).met_day(user, day) for day in span]
    monkeypatch.setattr(simulator_data, "_INLINE_GAUSS", False)
    assert [Generator(42).met_day(user, day) for day in span] == fast
    assert all(window.timetz() == time(4, 0, tzinfo=user.tz) for window, _ in fast)
