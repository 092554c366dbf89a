"""Every fault knob, through the Python API and through POST /_sim/faults."""

from __future__ import annotations

import time
from typing import Any

import pytest

PATH = "/v2/usercollection/daily_sleep"


async def test_rate_limit_burst_python_api(api: Any, server: Any) -> None:
    headers = await api.headers()
    server.simulator.faults.rate_limit_burst(2, retry_after=3)
    for _ in range(2):
        response = await api.http.get(PATH, headers=headers)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "3"
        for name in (
            "X-RateLimit-Limit",
            "X-RateLimit-Window",
            "X-RateLimit-Reset",
            "X-RateLimit-Tier",
        ):
            assert name in response.headers
    ok = await api.http.get(PATH, headers=headers)
    assert ok.status_code == 200
    assert int(ok.headers["X-RateLimit-Remaining"]) < 5_000


async def test_server_errors_and_latency_via_admin_route(api: Any) -> None:
    headers = await api.headers()
    set_faults = await api.http.post(
        "/_sim/faults", json={"server_error_burst": {"count": 2, "status": 502}, "latency_s": 0.3}
    )
    assert set_faults.status_code == 200
    statuses = []
    started = time.monotonic()
    for _ in range(3):
        statuses.append((await api.http.get(PATH, headers=headers)).status_code)
    assert statuses == [502, 502, 200]
    assert time.monotonic() - started >= 0.9
    cleared = await api.http.delete("/_sim/faults")
    assert cleared.json()["latency_s"] == 0.0


@pytest.mark.parametrize("kind", ["invalid_json", "missing_data"])
async def test_malformed_pages(api: Any, server: Any, kind: str) -> None:
    headers = await api.headers()
    server.simulator.faults.malformed_pages(1, kind=kind)
    broken = await api.http.get(PATH, headers=headers)
    assert broken.status_code == 200
    if kind == "invalid_json":
        with pytest.raises(ValueError):
            broken.json()
    else:
        assert "data" not in broken.json()
    assert "data" in (await api.http.get(PATH, headers=headers)).json()


async def test_revoked_user_gets_401_and_invalid_grant(api: Any) -> None:
    tokens = await api.login()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    await api.http.post("/_sim/faults", json={"revoke_user": "demo"})
    assert (await api.http.get(PATH, headers=headers)).status_code == 401
    refresh = await api.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    # reconnecting works again
    assert (await api.http.get(PATH, headers=await api.headers())).status_code == 200


async def test_scope_knob_and_expired_tokens(api: Any) -> None:
    tokens = await api.login()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    await api.http.post("/_sim/faults", json={"scopes": {"demo": ["personal", "heartrate"]}})
    assert (await api.http.get(PATH, headers=headers)).status_code == 403
    hr = await api.http.get("/v2/usercollection/heartrate", headers=headers)
    assert hr.status_code == 200
    await api.http.post("/_sim/faults", json={"expire_tokens": "demo"})
    expired = await api.http.get("/v2/usercollection/heartrate", headers=headers)
    assert expired.status_code == 401
    refreshed = await api.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert set(refreshed.json()["scope"].split()) == {"personal", "heartrate"}


@pytest.mark.simulator(rate_limit_requests=3, rate_limit_window_s=60)
async def test_request_budget(api: Any, server: Any) -> None:
    headers = await api.headers()
    statuses = [(await api.http.get(PATH, headers=headers)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = await api.http.get(PATH, headers=headers)
    assert limited.headers["X-RateLimit-Tier"] == "application"
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    server.simulator.clock.advance(61)
    assert (await api.http.get(PATH, headers=headers)).status_code == 200


async def test_oauth_scoped_burst_and_users_route(api: Any) -> None:
    await api.http.post("/_sim/faults", json={"server_error_burst": {"count": 1, "scope": "oauth"}})
    code = await api.authorize()
    failed = await api.token(grant_type="authorization_code", code=code)
    assert failed.status_code == 503
    created = await api.http.post("/_sim/users", json={"login": "alice", "scopes": ["daily"]})
    assert created.status_code == 201 and created.json()["consent_scopes"] == ["daily"]
    duplicate = await api.http.post("/_sim/users", json={"login": "alice"})
    assert duplicate.status_code == 409
    tokens = await api.login(user="alice")
    assert tokens["scope"] == "daily"
    stats = (await api.http.get("/_sim/stats")).json()
    assert stats["token_requests_by_user"]["alice"] == {"authorization_code": 1}
