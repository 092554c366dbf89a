"""The daily run over real HTTP (simulator), the real broker and the real database."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from collector.collect import run_daily
from oura_connection import connection_status
from schemas.data_types import BY_NAME, DATA_TYPES
from tests.collector.helpers import TODAY, by_key, connect, read_raw, served

ALL = [t.name for t in DATA_TYPES]


async def _cursors(db: Any, user_id: Any) -> dict[str, Any]:
    rows = await db.fetch(
        "SELECT data_type, cursor_day, covered::text AS covered, status, last_error, "
        "last_success_at FROM collection_cursors WHERE user_id = $1",
        user_id,
    )
    return {r["data_type"]: r for r in rows}


async def test_three_users_every_type_records_equal_served_documents(
    collector, sim, db, topics, cipher
) -> None:
    logins = ["demo", "demo2", "demo3"]
    users = {login: await connect(db, sim, login, cipher) for login in logins}

    report = await run_daily(collector, today=TODAY)

    assert report.failures == [] and report.not_granted == []
    assert report.exit_code == 0
    assert report.users == 3 and report.windows == 3 * len(ALL)
    start = TODAY - timedelta(days=collector.settings.initial_days - 1)
    records = await read_raw(topics, ALL)
    assert len(records) == report.documents
    served_types: set[str] = set()
    for login, user_id in users.items():
        for name in ALL:
            got = [r for r in records if r.user_id == str(user_id) and r.data_type == name]
            expected = served(sim, login, name, start, TODAY)
            served_types.add(name) if expected else None
            assert by_key(name, [r.document for r in got]) == by_key(name, expected), name
            assert len(got) == len(expected), f"{name}: duplicates published"
            assert {r.endpoint for r in got} <= {f"/v2/usercollection/{BY_NAME[name].path}"}
        cursors = await _cursors(db, user_id)
        assert set(cursors) == set(ALL)
        for name, row in cursors.items():
            assert row["status"] == "ok", (name, row["last_error"])
            assert row["cursor_day"] == TODAY
            assert row["covered"] == f"{{[{start},{TODAY + timedelta(days=1)})}}"
        status = await connection_status(db, user_id)
        assert status is not None and status.status == "active"
        assert all(v is not None for v in status.last_success_at.values())
    # rest mode only exists around illness; every other type has documents in 10 days
    assert set(ALL) - served_types <= {"rest_mode_period"}


async def test_next_run_fetches_from_cursor_minus_overlap(
    collector, sim, db, topics, cipher
) -> None:
    user_id = await connect(db, sim, "demo", cipher)
    first = await run_daily(collector, today=TODAY, only=[BY_NAME["daily_sleep"]])
    later = TODAY + timedelta(days=5)
    sim.simulator.clock.advance(5 * 86400)
    second = await run_daily(collector, today=later, only=[BY_NAME["daily_sleep"]])
    assert first.exit_code == second.exit_code == 0
    # 5 new days + 3 overlap days (+ today counted once): 9 days in the second window
    expected = served(sim, "demo", "daily_sleep", TODAY - timedelta(days=3), later)
    assert second.documents == len(expected)
    cursors = await _cursors(db, user_id)
    assert cursors["daily_sleep"]["cursor_day"] == later


async def test_403_marks_not_granted_and_the_others_continue(
    collector, sim, db, topics, cipher
) -> None:
    user_id = await connect(db, sim, "demo", cipher)
    other = await connect(db, sim, "demo2", cipher)
    # The user unticks heart rate and workouts on Oura's side after connecting.
    consent = set(sim.simulator.consent_scopes("demo")) - {"heartrate", "workout"}
    sim.simulator.set_scopes("demo", consent)

    report = await run_daily(collector, today=TODAY)

    assert report.exit_code == 0, report.failures
    refused = sorted(line.split()[2].rstrip(":") for line in report.not_granted)
    assert refused == ["heartrate", "workout"]
    cursors = await _cursors(db, user_id)
    assert cursors["heartrate"]["status"] == "not_granted"
    assert cursors["heartrate"]["cursor_day"] is None
    assert cursors["workout"]["status"] == "not_granted"
    assert all(cursors[n]["status"] == "ok" for n in ALL if n not in ("heartrate", "workout"))
    assert all(r["status"] == "ok" for r in (await _cursors(db, other)).values())


async def test_429_storm_completes_later_with_nothing_lost(
    collector, sim, db, topics, cipher
) -> None:
    await connect(db, sim, "demo", cipher)
    sim.simulator.faults.rate_limit_burst(40, retry_after=1)
    started = time.monotonic()

    report = await run_daily(collector, today=TODAY)

    assert report.exit_code == 0, report.failures
    assert time.monotonic() - started >= 1.0, "Retry-After was not honoured"
    assert sim.simulator.stats()["data_responses_by_status"]["429"] == 40
    start = TODAY - timedelta(days=collector.settings.initial_days - 1)
    records = await read_raw(topics, ALL)
    for name in ALL:
        got = [r.document for r in records if r.data_type == name]
        assert by_key(name, got) == by_key(name, served(sim, "demo", name, start, TODAY))


async def test_5xx_burst_is_retried(collector, sim, db, topics, cipher) -> None:
    user_id = await connect(db, sim, "demo", cipher)
    sim.simulator.faults.server_error_burst(3, status=503)
    report = await run_daily(collector, today=TODAY, only=[BY_NAME["daily_readiness"]])
    assert report.exit_code == 0, report.failures
    assert report.documents == len(
        served(sim, "demo", "daily_readiness", TODAY - timedelta(days=9), TODAY)
    )
    assert (await _cursors(db, user_id))["daily_readiness"]["status"] == "ok"


async def test_5xx_beyond_retries_fails_only_that_window(
    collector, sim, db, topics, cipher
) -> None:
    broken = await connect(db, sim, "demo", cipher)
    fine = await connect(db, sim, "demo2", cipher)
    sim.simulator.faults.server_error_burst(50, status=502, user="demo")
    only = [BY_NAME["daily_sleep"], BY_NAME["daily_activity"]]

    report = await run_daily(collector, today=TODAY, only=only)

    assert report.exit_code == 1
    assert len(report.failures) == 2
    assert all(str(broken) in line and "HTTP 502" in line for line in report.failures)
    for row in (await _cursors(db, broken)).values():
        assert row["status"] == "failed" and row["cursor_day"] is None
        assert row["covered"] == "{}"
    assert all(r["status"] == "ok" for r in (await _cursors(db, fine)).values())


async def test_malformed_page_leaves_its_cursor(collector, sim, db, topics, cipher) -> None:
    user_id = await connect(db, sim, "demo", cipher)
    only = [BY_NAME["daily_stress"]]
    assert (await run_daily(collector, today=TODAY, only=only)).exit_code == 0
    before = await _cursors(db, user_id)
    sim.simulator.clock.advance(2 * 86400)
    sim.simulator.faults.malformed_pages(10, kind="missing_data")

    report = await run_daily(collector, today=TODAY + timedelta(days=2), only=only)

    assert report.exit_code == 1
    assert "malformed page" in report.failures[0]
    after = await _cursors(db, user_id)
    assert after["daily_stress"]["cursor_day"] == before["daily_stress"]["cursor_day"]
    assert after["daily_stress"]["covered"] == before["daily_stress"]["covered"]
    assert after["daily_stress"]["status"] == "failed"
    # One broken page is retried transparently.
    sim.simulator.faults.clear()
    sim.simulator.faults.malformed_pages(1, kind="invalid_json")
    assert (await run_daily(collector, today=TODAY + timedelta(days=2), only=only)).exit_code == 0
    assert (await _cursors(db, user_id))["daily_stress"]["cursor_day"] == TODAY + timedelta(days=2)


async def test_revoked_token_marks_needs_reauth(collector, sim, db, topics, cipher) -> None:
    revoked = await connect(db, sim, "demo", cipher)
    fine = await connect(db, sim, "demo2", cipher)
    sim.simulator.revoke_user("demo")

    report = await run_daily(collector, today=TODAY)

    assert report.exit_code == 1
    assert all(str(revoked) in line for line in report.failures)
    assert any("needs_reauth" in line for line in report.failures)
    status = await connection_status(db, revoked)
    assert status is not None and status.status == "needs_reauth"
    # exactly one refresh attempt for the user: no retry storm
    assert sim.simulator.stats()["token_requests_by_user"]["demo"] == {"refresh_token": 1}
    assert all(r["status"] == "ok" for r in (await _cursors(db, fine)).values())
    # The next run leaves the dead connection alone.
    again = await run_daily(collector, today=TODAY, only=[BY_NAME["daily_sleep"]])
    assert again.users == 1 and again.exit_code == 0


async def test_expired_access_token_is_refreshed_once_after_401(
    collector, sim, db, topics, cipher
) -> None:
    await connect(db, sim, "demo", cipher)
    sim.simulator.expire_tokens("demo")
    report = await run_daily(collector, today=TODAY)
    assert report.exit_code == 0, report.failures
    assert sim.simulator.stats()["token_requests_by_user"]["demo"] == {"refresh_token": 1}
