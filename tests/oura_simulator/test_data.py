"""Determinism, revisions and physiological plausibility of the generated documents."""

from __future__ import annotations

import statistics
from datetime import date, datetime
from typing import Any

import httpx
import pytest

from oura_simulator import Simulator, SimulatorConfig

RANGE = {"start_date": "2024-10-01", "end_date": "2025-03-15"}


async def test_same_seed_same_documents_over_http(start_server: Any) -> None:
    first, second, other = start_server(), start_server(), start_server(seed=7)
    results = []
    for server in (first, second, other):
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            response = await http.get("/_sim/documents/sleep", params=RANGE)
            results.append(response.json()["data"])
    assert results[0] == results[1]
    assert results[0] != results[2]


def test_ids_are_stable_uuids_unique_per_user_and_type() -> None:
    sim = Simulator(SimulatorConfig(today=date(2025, 3, 15), users=2, history_days=60))
    ids: set[str] = set()
    for login in ("demo", "demo2"):
        for type_name in ("daily_sleep", "sleep", "daily_readiness", "workout"):
            docs = sim.documents(login, type_name, date(2025, 1, 20), date(2025, 3, 15))
            assert docs
            new = {d["id"] for d in docs}
            assert len(new) == len(docs) and not ids & new
            ids |= new
    assert all(len(i) == 36 and i[14] == "4" for i in ids)


async def test_revisions_keep_ids_and_change_recent_content(api: Any, server: Any) -> None:
    headers = await api.headers()
    params = {"start_date": "2025-03-05", "end_date": "2025-03-15"}
    before = {
        path: await api.collect(path, headers, params)
        for path in ("daily_sleep", "daily_readiness", "sleep", "daily_activity")
    }
    response = await api.http.post("/_sim/revisions", json={"user": "demo"})
    assert response.json()["revisions"]["demo"] == 1
    for path, old_docs in before.items():
        new_docs = await api.collect(path, headers, params)
        assert [d["id"] for d in new_docs] == [d["id"] for d in old_docs], path
        recent = {"2025-03-14", "2025-03-15"}
        for old, new in zip(old_docs, new_docs, strict=True):
            if old["day"] in recent:
                assert old != new, (path, old["day"])
            else:
                assert old == new, (path, old["day"])
        single = await api.http.get(
            f"/v2/usercollection/{path}/{new_docs[-1]['id']}", headers=headers
        )
        assert single.json() == new_docs[-1]


def test_illness_episodes_show_in_temperature_hrv_and_readiness() -> None:
    sim = Simulator(SimulatorConfig(today=date(2025, 3, 15), history_days=400, users=1))
    start, end = date(2024, 3, 1), date(2025, 3, 15)
    truth = {t["day"]: t for t in sim.truth("demo", start, end)}
    readiness = {d["day"]: d for d in sim.documents("demo", "daily_readiness", start, end)}
    sleeps = {
        d["day"]: d for d in sim.documents("demo", "sleep", start, end) if d["type"] == "long_sleep"
    }
    ill = [day for day, t in truth.items() if t["illness"] >= 0.8 and day in readiness]
    well = [day for day, t in truth.items() if t["illness"] == 0 and day in readiness]
    assert len(ill) >= 4 and len(well) > 200

    def mean(values: list[float]) -> float:
        return statistics.fmean(values)

    temp_ill = mean([readiness[d]["temperature_deviation"] for d in ill])
    temp_well = mean([readiness[d]["temperature_deviation"] for d in well])
    assert temp_ill > temp_well + 0.5
    assert mean([sleeps[d]["average_hrv"] for d in ill]) < 0.8 * mean(
        [sleeps[d]["average_hrv"] for d in well]
    )
    assert (
        mean([readiness[d]["score"] for d in ill])
        < mean([readiness[d]["score"] for d in well]) - 10
    )
    assert mean([sleeps[d]["lowest_heart_rate"] for d in ill]) > mean(
        [sleeps[d]["lowest_heart_rate"] for d in well]
    )
    # rest mode is an episode-level signal
    rest = sim.documents("demo", "rest_mode_period", start, end)
    assert all(truth[r["start_day"]]["illness"] > 0 for r in rest)


def test_series_lengths_naps_and_days_without_ring() -> None:
    sim = Simulator(SimulatorConfig(today=date(2025, 3, 15), history_days=400, users=1))
    start, end = date(2024, 3, 1), date(2025, 3, 10)
    truth = sim.truth("demo", start, end)
    unworn = {t["day"] for t in truth if not t["worn"]}
    assert unworn, "a year should contain days without the ring"
    for type_name in ("sleep", "daily_activity", "daily_readiness", "daily_stress"):
        docs = sim.documents("demo", type_name, start, end)
        assert not unworn & {d["day"] for d in docs}, type_name
    activity = sim.documents("demo", "daily_activity", start, end)
    assert all(len(d["met"]["items"]) == 1_440 and d["met"]["interval"] == 60.0 for d in activity)
    assert all(len(d["class_5_min"]) == 288 for d in activity)
    steps = [d["steps"] for d in activity]
    assert 3_000 < statistics.median(steps) < 16_000
    sleeps = sim.documents("demo", "sleep", start, end)
    types = {d["type"] for d in sleeps}
    assert {"long_sleep", "sleep", "late_nap"} <= types
    for doc in sleeps:
        assert doc["heart_rate"]["interval"] == 300.0
        assert len(doc["heart_rate"]["items"]) == -(-doc["time_in_bed"] // 300)
        assert len(doc["sleep_phase_5_min"]) == len(doc["heart_rate"]["items"])
        assert doc["total_sleep_duration"] + doc["awake_time"] == doc["time_in_bed"]
        if doc["type"] == "long_sleep":
            assert 5 * 3600 <= doc["time_in_bed"] <= 11.5 * 3600
            assert doc["readiness"] is not None
            assert 60 <= len(doc["heart_rate"]["items"]) <= 140
    days_with_two = [
        d for d in {s["day"] for s in sleeps} if sum(s["day"] == d for s in sleeps) > 1
    ]
    assert days_with_two
    rows = sim.heartrate(
        "demo",
        datetime.fromisoformat("2025-03-09T00:00:00+00:00"),
        datetime.fromisoformat("2025-03-10T00:00:00+00:00"),
    )
    sources = {r["source"] for r in rows}
    assert {"awake", "sleep"} <= sources
    assert 288 * 0.7 < len(rows) < 2_000
    assert all(r["timestamp"].endswith("+00:00") for r in rows)
    assert all(30 <= r["bpm"] <= 200 for r in rows)


@pytest.mark.simulator(today=date(2025, 3, 15))
async def test_today_only_shows_what_has_happened(api: Any, server: Any) -> None:
    headers = await api.headers()
    rows = await api.collect(
        "heartrate",
        headers,
        {
            "start_datetime": "2025-03-15T00:00:00+00:00",
            "end_datetime": "2025-03-16T00:00:00+00:00",
        },
    )
    assert rows and max(r["timestamp"] for r in rows) <= "2025-03-15T12:00:00+00:00"
    offset = server.simulator.user("demo").tz_offset_min
    if offset > -240:  # local time past 04:00: today's activity has started
        today = await api.collect("daily_activity", headers, {"start_date": "2025-03-15"})
        assert today and len(today[-1]["met"]["items"]) < 1_440
