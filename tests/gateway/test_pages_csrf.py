"""Every state-changing form refuses a request without this browser's CSRF token (none, a wrong
one, or one taken from another browser), and changes nothing then."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from tests.gateway import web
from tests.gateway.factories import PASSWORD, random_email, register

FORMS = {
    "/signup": {"email": "csrf-victim@example.com", "password": "a long unguessable phrase 7"},
    "/signin": {"login": "", "password": PASSWORD},
    "/signout": {},
    "/password": {"current_password": PASSWORD, "new_password": "another long phrase 8812"},
    "/account/delete": {"confirm_email": ""},
    "/connect": {},
    "/disconnect": {},
}


def _browser(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("198.51.100.10", 52001))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.mark.parametrize("path", list(FORMS))
async def test_form_without_its_token_is_refused(
    path: str, app: FastAPI, client: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    user = await register(client)
    fields = {**FORMS[path]}
    if "login" in fields:
        fields["login"] = user["email"]
    if "confirm_email" in fields:
        fields["confirm_email"] = user["email"]
    async with _browser(app) as browser, _browser(app) as elsewhere:
        assert (await web.sign_in(browser, user["email"])).status_code == 303
        page = await browser.get("/connection")
        assert page.status_code == 200
        foreign_token = web.csrf_of(await elsewhere.get("/signin"))
        for token in (None, "", "forged", foreign_token):
            data = fields if token is None else {**fields, "csrf_token": token}
            refused = await browser.post(path, data=data)
            assert refused.status_code == 403, (path, token, refused.text[:300])
            assert "Form expired" in refused.text
            assert "myhealth_session" not in refused.cookies
        # Nothing happened: the account, its password and the session are as they were.
        assert (await browser.get("/connection")).status_code == 200
        assert await db.fetchval("SELECT count(*) FROM users WHERE email = $1", user["email"]) == 1
        assert await db.fetchval("SELECT count(*) FROM oauth_states") == 0
        assert (
            await db.fetchval("SELECT token_version FROM users WHERE email = $1", user["email"])
            == 0
        )
        assert (
            await db.fetchval("SELECT count(*) FROM users WHERE email = 'csrf-victim@example.com'")
            == 0
        )
        # With its token the same form goes through (the test is not refusing everything).
        accepted = await browser.post(path, data={**fields, "csrf_token": web.csrf_of(page)})
        assert accepted.status_code != 403, accepted.text[:300]


async def test_sign_up_and_sign_in_with_the_token(app: FastAPI) -> None:
    email = random_email()
    async with _browser(app) as browser:
        form = await browser.get("/signup")
        assert 'name="csrf_token"' in form.text
        created = await browser.post(
            "/signup",
            data={"csrf_token": web.csrf_of(form), "email": email, "password": PASSWORD},
        )
        assert created.status_code == 303 and created.headers["location"] == "/signin?registered=1"
        signed_in = await web.sign_in(browser, email)
        assert signed_in.status_code == 303
        cookie = signed_in.headers.get_list("set-cookie")
        session = next(c for c in cookie if c.startswith("myhealth_session="))
        assert "HttpOnly" in session and "SameSite=lax" in session
        # Development: no Secure flag, so http://127.0.0.1 works (production sets it).
        assert "Secure" not in session
        assert email in (await browser.get("/connection")).text
