"""Paging yields every document exactly once; filters, defaults, errors and quirks mode."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from schemas.data_types import DATA_TYPES, QueryKind

DATED = [t for t in DATA_TYPES if t.query is QueryKind.DATE]


@pytest.mark.parametrize("data_type", DATED, ids=lambda t: t.name)
async def test_pages_cover_everything_once(api: Any, data_type: Any) -> None:
    headers = await api.headers()
    params = {"start_date": "2024-12-01", "end_date": "2025-03-15"}
    pages = await api.pages(data_type.path, headers, params)
    ids = [d["id"] for page in pages for d in page["data"]]
    assert len(ids) == len(set(ids))
    assert all(len(page["data"]) <= 7 for page in pages)
    truth = await api.http.get(f"/_sim/documents/{data_type.name}", params=params)
    assert [d["id"] for d in truth.json()["data"]] == ids
    field = data_type.day_field
    assert all("2024-12-01" <= d[field] <= "2025-03-15" for p in pages for d in p["data"])


async def test_next_token_with_original_params_and_tampering(api: Any) -> None:
    headers = await api.headers()
    params = {"start_date": "2025-02-01", "end_date": "2025-03-15"}
    first = (
        await api.http.get("/v2/usercollection/daily_sleep", headers=headers, params=params)
    ).json()
    token = first["next_token"]
    with_params = await api.http.get(
        "/v2/usercollection/daily_sleep", headers=headers, params={**params, "next_token": token}
    )
    alone = await api.http.get(
        "/v2/usercollection/daily_sleep", headers=headers, params={"next_token": token}
    )
    assert with_params.json() == alone.json()
    assert {d["id"] for d in alone.json()["data"]}.isdisjoint(d["id"] for d in first["data"])
    bad = await api.http.get(
        "/v2/usercollection/daily_sleep", headers=headers, params={"next_token": token[:-3] + "AAA"}
    )
    assert bad.status_code == 400
    other = await api.headers(user="demo2")
    foreign = await api.http.get(
        "/v2/usercollection/daily_sleep", headers=other, params={"next_token": token}
    )
    assert foreign.status_code == 400


async def test_heartrate_pagination_and_window(api: Any, server: Any) -> None:
    headers = await api.headers()
    params = {
        "start_datetime": "2025-03-10T00:00:00+00:00",
        "end_datetime": "2025-03-12T00:00:00+00:00",
    }
    pages = await api.pages("heartrate", headers, params)
    rows = [r for p in pages for r in p["data"]]
    assert len(pages) > 2
    stamps = [r["timestamp"] for r in rows]
    assert stamps == sorted(stamps) and len(stamps) == len(set(stamps))
    assert stamps[0] >= "2025-03-10T00:00:00" and stamps[-1] < "2025-03-12T00:00:00"
    truth = await api.http.get(
        "/_sim/documents/heartrate", params={"start_date": "2025-03-10", "end_date": "2025-03-11"}
    )
    assert truth.json()["data"] == rows
    latest = await api.http.get(
        "/v2/usercollection/heartrate", headers=headers, params={**params, "latest": "true"}
    )
    assert latest.json()["data"] == rows[-1:]


async def test_defaults_and_bad_parameters(api: Any) -> None:
    headers = await api.headers()
    default = (await api.http.get("/v2/usercollection/daily_sleep", headers=headers)).json()
    assert {d["day"] for d in default["data"]} <= {"2025-03-14", "2025-03-15"}
    for params in (
        {"start_date": "2025-13-01"},
        {"start_date": "2025-03-10", "end_date": "2025-03-01"},
    ):
        response = await api.http.get("/v2/usercollection/sleep", headers=headers, params=params)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "start_date"]
    bad_hr = await api.http.get(
        "/v2/usercollection/heartrate", headers=headers, params={"start_datetime": "nope"}
    )
    assert bad_hr.status_code == 422
    # datetimes are accepted by date collections
    dt = await api.http.get(
        "/v2/usercollection/daily_sleep",
        headers=headers,
        params={"start_date": "2025-03-10T00:00:00", "end_date": "2025-03-11T23:59:59"},
    )
    assert {d["day"] for d in dt.json()["data"]} <= {"2025-03-10", "2025-03-11"}


@pytest.mark.simulator(quirks=True)
async def test_quirks_mode_date_filters(api: Any, server: Any) -> None:
    headers = await api.headers()
    one_day = {"start_date": "2025-03-11", "end_date": "2025-03-12"}

    async def days(path: str, params: dict[str, str]) -> list[str]:
        docs = await api.collect(path, headers, params)
        return sorted({d["day"] for d in docs})

    worn = {
        d["day"]
        for d in server.simulator.truth("demo", date(2025, 3, 11), date(2025, 3, 12))
        if d["worn"]
    }
    assert worn == {"2025-03-11", "2025-03-12"}, "seed 42 wears the ring on these days"
    assert await days("daily_sleep", one_day) == ["2025-03-11", "2025-03-12"]
    assert await days("daily_activity", one_day) == ["2025-03-11"]
    assert await days("sleep", one_day) == ["2025-03-12"]
    through_evening = {"start_date": "2025-03-11", "end_date": "2025-03-12T23:59:59"}
    assert await days("daily_activity", through_evening) == ["2025-03-11", "2025-03-12"]
    lenient = await api.http.get(
        "/v2/usercollection/daily_sleep",
        headers=headers,
        params={"start_date": "1", "end_date": "2"},
    )
    assert lenient.status_code == 200 and lenient.json()["data"] == []
