"""A browser as an httpx client with a cookie jar: sign in on the gateway's pages, start
connecting Oura, and consent at the simulator. Tests that connect Oura go through here, since
the callback completes only in the browser (and for the account) that started the flow."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.gateway.factories import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    match = CSRF.search(page.text)
    assert match is not None, (page.status_code, page.text[:500])
    return match.group(1)


async def sign_in(
    browser: httpx.AsyncClient, login: str, password: str = PASSWORD, link: str = ""
) -> httpx.Response:
    form = await browser.get("/signin")
    data = {"csrf_token": csrf_of(form), "login": login, "password": password}
    if link:
        data["for"] = link
    return await browser.post("/signin", data=data)


async def oura_url(browser: httpx.AsyncClient) -> str:
    """Press "Connect Oura" on the connection page of a signed-in browser: Oura's consent URL
    (the connect cookie is now in the browser's jar)."""
    page = await browser.get("/connection")
    started = await browser.post("/connect", data={"csrf_token": csrf_of(page)})
    assert started.status_code == 303, started.text
    return started.headers["location"]


async def authorize(
    browser: httpx.AsyncClient, headers: dict[str, str], password: str = PASSWORD
) -> str:
    """The API client's way: GET /api/oauth/authorize (bearer) answers the gateway's connect
    link; the browser opens it, signs in as the same account, confirms, and is sent to Oura.
    Returns Oura's consent URL. The browser starts without cookies."""
    browser.cookies.clear()
    email = (await browser.get("/api/me", headers=headers)).json()["email"]
    answer = await browser.get("/api/oauth/authorize", params={"format": "json"}, headers=headers)
    assert answer.status_code == 200, answer.text
    link = answer.json()["authorization_url"]
    opened = await browser.get(link)
    assert opened.status_code == 200 and 'name="for"' in opened.text, opened.text
    value = parse_qs(urlsplit(link).query)["for"][0]
    signed_in = await sign_in(browser, email, password, link=value)
    assert signed_in.status_code == 303, signed_in.text
    confirm = await browser.get(signed_in.headers["location"])
    started = await browser.post("/connect", data={"csrf_token": csrf_of(confirm)})
    assert started.status_code == 303, started.text
    return started.headers["location"]


async def consent(authorization_url: str, **extra: str) -> dict[str, str]:
    """The browser at Oura: approve (or deny); the query Oura sends back to our callback."""
    async with httpx.AsyncClient() as oura:
        url = httpx.URL(authorization_url)
        answer = await oura.get(url.copy_merge_params(extra) if extra else url)
    assert answer.status_code in (302, 303, 307), answer.text
    location = urlsplit(answer.headers["location"])
    assert location.path == "/api/callback"
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def connect_cookie(browser: httpx.AsyncClient) -> str:
    """The connect cookie's nonce in the browser's jar (to replay it on purpose)."""
    values = [c.value for c in browser.cookies.jar if c.name == "myhealth_connect"]
    assert len(values) == 1 and values[0] is not None
    return values[0]
