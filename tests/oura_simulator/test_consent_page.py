"""A browser at the simulator's authorize endpoint sees a consent screen (Allow / Deny) that
keeps every parameter of the request; programs are still approved at once."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

REDIRECT = "http://127.0.0.1:9/callback"
PARAMS = {
    "client_id": "simulator-client",
    "redirect_uri": REDIRECT,
    "response_type": "code",
    "state": "st-1",
    "scope": "daily heartrate",
}


def _fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))


async def test_browser_consents_on_a_page(api: Any) -> None:
    page = await api.http.get("/oauth/authorize", params=PARAMS, headers={"Accept": "text/html"})
    assert page.status_code == 200 and 'id="allow"' in page.text and "heartrate" in page.text
    fields = _fields(page.text)
    assert fields == PARAMS
    allowed = await api.http.get(
        "/oauth/authorize", params={**fields, "approve": "1"}, headers={"Accept": "text/html"}
    )
    assert allowed.status_code == 302
    query = parse_qs(urlparse(allowed.headers["location"]).query)
    assert query["state"] == ["st-1"] and query["code"]
    denied = await api.http.get(
        "/oauth/authorize", params={**fields, "deny": "1"}, headers={"Accept": "text/html"}
    )
    assert parse_qs(urlparse(denied.headers["location"]).query)["error"] == ["access_denied"]


async def test_programs_are_approved_at_once(api: Any) -> None:
    answer = await api.http.get("/oauth/authorize", params=PARAMS)
    assert answer.status_code == 302 and "code=" in answer.headers["location"]
