"""The connect flow is bound to the browser that started it, against the simulator over HTTP:
a consent link started by A and opened by another browser links nothing; a link from the API
only continues for a browser signed in as the same account; replays are refused; PKCE can be
turned off for an Oura that would refuse it."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from gateway.settings import GatewaySettings
from tests.gateway import web
from tests.gateway.conftest import make_settings
from tests.gateway.factories import PASSWORD, register
from tests.gateway.test_oauth import settings, simulator

__all__ = ["settings", "simulator"]  # the fixtures, shared with test_oauth


def _browser(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 52000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _linked(db: asyncpg.Pool) -> int:
    return int(await db.fetchval("SELECT count(*) FROM oauth_tokens"))


async def test_consent_link_of_a_opened_in_another_browser_links_nothing(
    app: FastAPI, client: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    a, victim = await register(client), await register(client)
    async with _browser(app) as browser_a, _browser(app) as browser_v:
        assert (await web.sign_in(browser_a, a["email"])).status_code == 303
        link = await web.oura_url(browser_a)  # A sends this to the victim
        callback = await web.consent(link, user="demo2")  # the victim consents at Oura

        anonymous = await browser_v.get("/api/callback", params=callback)
        assert anonymous.status_code == 403 and anonymous.json()["code"] == "other_browser"
        assert (await web.sign_in(browser_v, victim["email"])).status_code == 303
        signed_in = await browser_v.get("/api/callback", params=callback)
        assert signed_in.status_code == 403
        forged = await browser_v.get(
            "/api/callback", params=callback, headers={"Cookie": "myhealth_connect=guessed"}
        )
        assert forged.status_code == 403 and forged.json()["code"] == "other_browser"
        assert await _linked(db) == 0

        # A's own browser, signed in as someone else by now, is refused as well.
        browser_a.cookies.delete("myhealth_session")
        assert (await web.sign_in(browser_a, victim["email"])).status_code == 303
        switched = await browser_a.get("/api/callback", params=callback)
        assert switched.status_code == 403 and switched.json()["code"] == "other_account"
        assert await _linked(db) == 0


async def test_callback_completes_once_in_the_starting_browser(
    app: FastAPI, client: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    a = await register(client)
    async with _browser(app) as browser:
        await web.sign_in(browser, a["email"])
        callback = await web.consent(await web.oura_url(browser))
        nonce = web.connect_cookie(browser)
        assert (await browser.get("/api/callback", params=callback)).status_code == 200
        replay = await browser.get(
            "/api/callback", params=callback, headers={"Cookie": f"myhealth_connect={nonce}"}
        )
        assert replay.status_code == 400 and replay.json()["code"] == "state_used"
    assert await db.fetchval("SELECT user_id::text FROM oauth_tokens") == a["id"]


async def test_api_link_continues_only_for_the_same_account(
    app: FastAPI, client: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    a, other = await register(client), await register(client)
    headers = {"Authorization": f"Bearer {a['token']}"}
    answer = await client.get("/api/oauth/authorize", params={"format": "json"}, headers=headers)
    link = answer.json()["authorization_url"]
    value = parse_qs(urlsplit(link).query)["for"][0]
    async with _browser(app) as browser:
        page = await browser.get(link)
        assert page.status_code == 200 and "Sign in as the account" in page.text
        refused = await web.sign_in(browser, other["email"], link=value)
        assert refused.status_code == 403 and "myhealth_session" not in refused.cookies
        assert (await web.sign_in(browser, other["email"])).status_code == 303
        foreign = await browser.get(link)
        assert foreign.status_code == 403 and "Nothing was connected" in foreign.text
        assert "Continue to Oura" not in foreign.text
        tampered = await browser.get(link.replace(value, value[:-2] + "AA"))
        assert tampered.status_code == 400
    assert await _linked(db) == 0
    async with _browser(app) as browser:
        oura = await web.authorize(browser, headers, PASSWORD)
        assert (await browser.get("/api/callback", params=await web.consent(oura))).is_success
    assert await db.fetchval("SELECT user_id::text FROM oauth_tokens") == a["id"]


@pytest.fixture
def no_pkce(settings: GatewaySettings) -> GatewaySettings:
    return make_settings(
        oura_authorize_url=settings.oura_authorize_url,
        oura_token_url=settings.oura_token_url,
        oura_revoke_url=settings.oura_revoke_url,
        oura_pkce=False,
    )


async def test_pkce_can_be_turned_off(
    db: asyncpg.Pool, db_settings, kafka_settings, no_pkce: GatewaySettings
) -> None:
    from gateway.app import create_app

    application = create_app(no_pkce, database=db_settings, kafka=kafka_settings)
    async with application.router.lifespan_context(application), _browser(application) as browser:
        user = await register(browser)
        await web.sign_in(browser, user["email"])
        url = await web.oura_url(browser)
        assert "code_challenge" not in parse_qs(urlsplit(url).query)
        assert (await browser.get("/api/callback", params=await web.consent(url))).is_success


async def test_needs_reauth_shows_reconnect_and_failures(
    app: FastAPI, client: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    a = await register(client)
    async with _browser(app) as browser:
        await web.sign_in(browser, a["email"])
        assert (
            await browser.get(
                "/api/callback", params=await web.consent(await web.oura_url(browser))
            )
        ).is_success
        await db.execute("UPDATE oauth_tokens SET status = 'needs_reauth'")
        await db.execute(
            "INSERT INTO collection_cursors (user_id, data_type, status, last_error, "
            "last_attempt_at) VALUES ($1, 'daily_sleep', 'failed', 'HTTP 503 from Oura', now())",
            uuid.UUID(a["id"]),
        )
        page = await browser.get("/connection")
        assert "needs re-authorisation" in page.text and "Reconnect Oura" in page.text
        assert "HTTP 503 from Oura" in page.text and "Backfill in progress" in page.text
        reconnected = await browser.get(
            "/api/callback", params=await web.consent(await web.oura_url(browser))
        )
        assert reconnected.is_success
        page = await browser.get("/connection")
        assert '"connection-status" class="status-active"' in page.text
        assert "Disconnect Oura" in page.text
        out = await browser.post("/disconnect", data={"csrf_token": web.csrf_of(page)})
        assert out.status_code == 303
        assert "not connected" in (await browser.get("/connection")).text
    assert await _linked(db) == 0
