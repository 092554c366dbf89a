"""Data quirks mode over real HTTP: off by default, per user or for everyone, each quirk on its
days, and patches of one document."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from oura_simulator.__main__ import parse_args
from oura_simulator.quirks import CHANGED_TYPES, ONE_A_DAY, Quirk, quirks_of
from schemas.data_types import BY_NAME
from tests.oura_simulator.conftest import TODAY, Api

START = TODAY - timedelta(days=13)
RANGE = {"start_date": START.isoformat(), "end_date": TODAY.isoformat()}


def _day(document: dict[str, Any]) -> date:
    return date.fromisoformat(document["day"])


async def test_off_by_default_and_per_user(api: Api) -> None:
    plain = await api.collect("daily_sleep", await api.headers("demo"), RANGE)
    assert plain and all("id" in d and "sleep_regularity_v3" not in d for d in plain)

    answer = await api.http.post("/_sim/data-quirks", json={"user": "demo2", "enabled": True})
    assert answer.status_code == 200 and answer.json()["users"] == {"demo2": True}
    again = await api.collect("daily_sleep", await api.headers("demo"), RANGE)
    quirky = await api.collect("daily_sleep", await api.headers("demo2"), RANGE)
    assert again == plain
    assert any("id" not in d for d in quirky)
    unknown = await api.http.post("/_sim/data-quirks", json={"user": "nobody"})
    assert unknown.status_code == 404


@pytest.mark.simulator(data_quirks=True)
async def test_each_quirk_on_its_days(api: Api) -> None:
    headers = await api.headers("demo")
    for type_name in ("daily_sleep", "daily_readiness", "sleep", "vo2_max", "daily_activity"):
        documents = await api.collect(BY_NAME[type_name].path, headers, RANGE)
        assert documents, type_name
        for document in documents:
            kinds = quirks_of(type_name, _day(document))
            assert ("id" not in document) == (Quirk.MISSING_ID in kinds), (type_name, kinds)
            assert ("sleep_regularity_v3" in document) == (Quirk.UNKNOWN_FIELDS in kinds)
            if Quirk.CHANGED_TYPE in kinds:
                field, value = CHANGED_TYPES[type_name]
                assert document[field] == value
    assert "sleep" not in ONE_A_DAY and "daily_sleep" in ONE_A_DAY

    sleeps = await api.collect("sleep", headers, RANGE)
    odd = [d for d in sleeps if Quirk.IMPLAUSIBLE in quirks_of("sleep", _day(d))]
    assert odd and all(d["average_heart_rate"] == 251.0 for d in odd)
    assert all(any(v < 0 for v in d["hrv"]["items"] if v is not None) for d in odd if d["hrv"])
    nulled = [d for d in sleeps if Quirk.NULL_NUMBERS in quirks_of("sleep", _day(d))]
    assert nulled and all(d["average_hrv"] is None and d["efficiency"] is None for d in nulled)


async def test_a_patch_changes_one_document(api: Api) -> None:
    headers = await api.headers("demo")
    before = await api.collect("daily_sleep", headers, RANGE)
    target = before[3]
    answer = await api.http.post(
        "/_sim/patches",
        json={
            "user": "demo",
            "data_type": "daily_sleep",
            "day": target["day"],
            "set": {"score": "81"},
            "unset": ["timestamp"],
        },
    )
    assert answer.status_code == 201, answer.text
    after = await api.collect("daily_sleep", headers, RANGE)
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(changed) == 1
    old, new = changed[0]
    assert new["score"] == "81" and "timestamp" not in new and new["id"] == old["id"]
    single = await api.http.get(f"/v2/usercollection/daily_sleep/{old['id']}", headers=headers)
    assert single.json()["score"] == "81"
    assert (await api.http.delete("/_sim/patches")).json()["patches"] == []
    assert await api.collect("daily_sleep", headers, RANGE) == before


def test_cli_flag_is_separate_from_date_filter_quirks() -> None:
    assert parse_args(["--data-quirks"]).data_quirks is True
    assert parse_args(["--data-quirks"]).quirks is False
    assert parse_args(["--quirks"]).data_quirks is False
