"""Page behaviour that needs no browser: sessions end with the API's logout and password change
(and the pages' sign-out ends the API's tokens), cookies are Secure outside development, every
page sends its content security policy and is never cached, and the year chart draws every day
(its server time is printed, not asserted: the machine is shared)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from tests.gateway import web
from tests.gateway.conftest import make_settings
from tests.gateway.factories import PASSWORD, days_back, insert_trend, register

PAGES = ("/connection", "/data", "/password", "/account/delete")


def _browser(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("198.51.100.11", 52002))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def signed_in(
    app: FastAPI, client: httpx.AsyncClient
) -> AsyncIterator[tuple[httpx.AsyncClient, dict]]:
    """A browser signed in on the pages, and its account (with an API token)."""
    user = await register(client)
    async with _browser(app) as browser:
        assert (await web.sign_in(browser, user["email"])).status_code == 303
        yield browser, user


async def test_pages_need_a_session(client: httpx.AsyncClient) -> None:
    for path in (*PAGES, "/export.csv"):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/signin", path


async def test_api_logout_ends_the_browser_session(client: httpx.AsyncClient, signed_in) -> None:
    browser, user = signed_in
    assert (await browser.get("/connection")).status_code == 200
    headers = {"Authorization": f"Bearer {user['token']}"}
    assert (await client.post("/api/logout", headers=headers)).status_code == 200
    assert (await browser.get("/connection")).headers["location"] == "/signin"


async def test_api_password_change_ends_the_browser_session(
    client: httpx.AsyncClient, signed_in
) -> None:
    browser, user = signed_in
    changed = await client.post(
        "/api/password",
        json={"current_password": PASSWORD, "new_password": "a different phrase 4471"},
        headers={"Authorization": f"Bearer {user['token']}"},
    )
    assert changed.status_code == 200, changed.text
    assert (await browser.get("/connection")).headers["location"] == "/signin"


async def test_sign_out_ends_the_api_tokens_too(client: httpx.AsyncClient, signed_in) -> None:
    browser, user = signed_in
    page = await browser.get("/connection")
    out = await browser.post("/signout", data={"csrf_token": web.csrf_of(page)})
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    assert (await browser.get("/connection")).status_code == 303
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {user['token']}"})
    assert me.status_code == 401 and me.json()["code"] == "token_revoked"


async def test_a_session_cookie_is_no_api_token(client: httpx.AsyncClient, signed_in) -> None:
    browser, _ = signed_in
    session = next(c.value for c in browser.cookies.jar if c.name == "myhealth_session")
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {session}"})
    assert me.status_code == 401


async def test_headers_of_every_page(client: httpx.AsyncClient, signed_in) -> None:
    browser, _ = signed_in
    for path in ("/signin", "/signup", *PAGES):
        response = await browser.get(path)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "form-action 'self' http://127.0.0.1:9" in policy  # and Oura's origin
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
        assert "<script" not in response.text


@pytest.fixture
async def production_app(db: asyncpg.Pool, db_settings, kafka_settings) -> AsyncIterator[FastAPI]:
    settings = make_settings(environment="production")
    application = create_app(settings, database=db_settings, kafka=kafka_settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_cookies_are_secure_outside_development(production_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=production_app, client=("198.51.100.12", 52003))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as browser:
        user = await register(browser)
        signed_in = await web.sign_in(browser, user["email"])
        cookies = signed_in.headers.get_list("set-cookie")
        assert len(cookies) == 2
        for cookie in cookies:
            assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


async def test_a_year_of_scores(signed_in, db: asyncpg.Pool) -> None:
    browser, user = signed_in
    for metric in ("daily_sleep.score", "daily_readiness.score", "daily_activity.score"):
        for i, day in enumerate(days_back(365)):
            await insert_trend(db, user["id"], metric, day, 60 + i % 30, flag=i % 50 == 0)
    await browser.get("/data?days=365")  # warm
    started = time.perf_counter()
    page = await browser.get("/data?days=365")
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"/data?days=365 with 3 x 365 trend rows: {elapsed_ms:.1f} ms")
    assert page.status_code == 200
    assert page.text.count("<svg") == 3 and page.text.count('class="flag"') == 3 * 8
    assert page.text.count(" L") >= 3 * 2 * 364  # every day on both lines, unbroken
