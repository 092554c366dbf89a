"""OAuth code flow, single-use rotating refresh tokens, client authentication and revocation."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlparse

CLIENT = {"client_id": "simulator-client", "client_secret": "simulator-secret"}
REDIRECT = "http://127.0.0.1:9/callback"


async def test_code_flow_and_refresh_rotation(api: Any, server: Any) -> None:
    tokens = await api.login(scope="daily heartrate")
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 86_400
    assert tokens["scope"] == "daily heartrate"
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (
        await api.http.get("/v2/usercollection/daily_sleep", headers=headers)
    ).status_code == 200

    first = await api.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert rotated["access_token"] != tokens["access_token"]

    reuse = await api.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert reuse.json()["error_description"]

    second = await api.token(grant_type="refresh_token", refresh_token=rotated["refresh_token"])
    assert second.status_code == 200

    stats = (await api.http.get("/_sim/stats")).json()
    assert stats["token_requests"] == {"authorization_code": 1, "refresh_token": 3}
    assert stats["token_requests_by_user"]["demo"] == {"authorization_code": 1, "refresh_token": 3}
    assert server.simulator.stats()["token_requests"]["refresh_token"] == 3


async def test_code_is_single_use_expires_and_binds_redirect_uri(api: Any, server: Any) -> None:
    code = await api.authorize()
    wrong = await api.token(grant_type="authorization_code", code=code, redirect_uri="http://evil/")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    ok = await api.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert ok.status_code == 200
    again = await api.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    late = await api.authorize()
    server.simulator.clock.advance(601)
    expired = await api.token(grant_type="authorization_code", code=late, redirect_uri=REDIRECT)
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"


async def test_client_authentication(api: Any) -> None:
    code = await api.authorize()
    bad = await api.http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "simulator-client",
            "client_secret": "nope",
        },
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    basic = base64.b64encode(b"simulator-client:simulator-secret").decode()
    good = await api.http.post(
        "/oauth/v2/ext/oauth-token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert good.status_code == 200, good.text
    unsupported = await api.token(grant_type="password")
    assert (
        unsupported.status_code == 400 and unsupported.json()["error"] == "unsupported_grant_type"
    )


async def test_consent_deny_narrow_scopes_and_user_choice(api: Any, server: Any) -> None:
    params = {
        "client_id": "simulator-client",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "state": "s1",
        "deny": "1",
    }
    denied = await api.http.get("/oauth/authorize", params=params)
    query = parse_qs(urlparse(denied.headers["location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["s1"]

    server.simulator.set_scopes("demo2", ["daily", "personal"])
    tokens = await api.login(user="demo2", scope="daily heartrate personal")
    assert set(tokens["scope"].split()) == {"personal", "daily"}
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    info = (await api.http.get("/v2/usercollection/personal_info", headers=headers)).json()
    assert info["id"] == server.simulator.user("demo2").user_id
    forbidden = await api.http.get("/v2/usercollection/heartrate", headers=headers)
    assert forbidden.status_code == 403

    unknown = await api.http.get("/oauth/authorize", params={**params, "scope": "spo2Daily"})
    assert "error=invalid_scope" in unknown.headers["location"]
    no_client = await api.http.get("/oauth/authorize", params={**params, "client_id": "x"})
    assert no_client.status_code == 400


async def test_revoke_access_token(api: Any) -> None:
    tokens = await api.login()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    revoked = await api.http.post("/oauth/revoke", params={"access_token": tokens["access_token"]})
    assert revoked.status_code == 200
    response = await api.http.get("/v2/usercollection/daily_sleep", headers=headers)
    assert response.status_code == 401
    refresh = await api.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refresh.json()["error"] == "invalid_grant"


async def test_expired_access_token_is_401_until_refreshed(api: Any, server: Any) -> None:
    tokens = await api.login()
    server.simulator.clock.advance(86_401)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    expired = await api.http.get("/v2/usercollection/daily_sleep", headers=headers)
    assert expired.status_code == 401 and expired.json() == {"detail": "Token has expired."}
    fresh = (
        await api.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    ).json()
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert (
        await api.http.get("/v2/usercollection/daily_sleep", headers=headers)
    ).status_code == 200
    missing = await api.http.get("/v2/usercollection/daily_sleep")
    assert missing.status_code == 401
