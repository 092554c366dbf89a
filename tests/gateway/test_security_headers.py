"""Security headers on every answer of the served gateway: data, errors, accounts, health."""

from __future__ import annotations

from typing import Any

import httpx

from tests.gateway.factories import new_user


async def test_every_answer_carries_the_security_headers(live_server: Any) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        _, headers = await new_user(client)
        answers = {
            "data": await client.get("/api/sleep", headers=headers),
            "dashboard": await client.get("/api/dashboard", headers=headers),
            "me": await client.get("/api/me", headers=headers),
            "unauthenticated": await client.get("/api/sleep"),
            "invalid": await client.get("/api/sleep", params={"start_date": "x"}, headers=headers),
            "login": await client.post("/api/login", json={"email": "a@b.cd", "password": "x"}),
            "health": await client.get("/health"),
            "unknown": await client.get("/nothing-here"),
        }
    for name, response in answers.items():
        h = response.headers
        assert h["x-content-type-options"] == "nosniff", name
        assert h["x-frame-options"] == "DENY", name
        assert h["referrer-policy"] == "no-referrer", name
        assert h["strict-transport-security"].startswith("max-age="), name
        if name != "health" and name != "unknown":
            assert h["cache-control"] == "no-store", name
            assert "default-src 'none'" in h["content-security-policy"], name
