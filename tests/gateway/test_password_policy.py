"""Password policy at registration, over HTTP against the real database: common and breached
passwords (the offline list zxcvbn ships) and guessable ones are refused with a 422 naming the
field; a passphrase is taken."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway.factories import PASSWORD, random_email


@pytest.mark.parametrize(
    "password",
    [
        "password12",  # accepted before: length was the only rule
        "1234567890",
        "qwertyuiop123",
        "iloveyou2026",
        "P@ssw0rd2026",
        "Password1234",
    ],
)
async def test_common_and_breached_passwords_are_refused(
    client: httpx.AsyncClient, password: str
) -> None:
    response = await client.post(
        "/api/register", json={"email": random_email(), "password": password}
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "weak_password"
    assert response.json()["detail"].startswith("body.password: ")


async def test_password_built_from_the_account_is_refused(client: httpx.AsyncClient) -> None:
    body = {
        "email": "ada.lovelace@example.com",
        "username": "adalovelace",
        "password": "adalovelace1815",
    }
    response = await client.post("/api/register", json=body)
    assert response.status_code == 422 and response.json()["code"] == "weak_password"


async def test_a_passphrase_is_taken(client: httpx.AsyncClient) -> None:
    for password in (PASSWORD, "violet tractor umbrella 58"):
        body = {"email": random_email(), "password": password}
        assert (await client.post("/api/register", json=body)).status_code == 202
