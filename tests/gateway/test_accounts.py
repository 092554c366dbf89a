"""Register, log in, read and erase oneself; password policy; login throttling and timing."""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import date

import asyncpg
import httpx
import pytest

from gateway.repositories.documents import TYPED_COLUMNS
from tests.gateway.factories import (
    PASSWORD,
    insert_every_type,
    insert_trend,
    login,
    new_user,
    random_email,
    register,
)


async def test_register_login_me(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    email = random_email()
    user = await register(client, email, username="ada_l")
    assert set(user) >= {"id", "email", "username", "created_at"}
    stored = await db.fetchval(
        "SELECT password_hash FROM users WHERE id = $1", uuid.UUID(user["id"])
    )
    assert stored.startswith("$2b$12$"), "bcrypt with cost 12"

    for body in (
        {"email": email.upper(), "password": PASSWORD},
        {"username": "ADA_L", "password": PASSWORD},
    ):
        response = await client.post("/api/login", json=body)
        assert response.status_code == 200, response.text
        token = response.json()
        assert (
            token["token_type"] == "bearer"
            and token["expires_in"] == 900
            and token["refresh_token"]
        )
        me = await client.get(
            "/api/me", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
        assert me.status_code == 200
        assert me.json()["id"] == user["id"] and "password_hash" not in me.text


async def test_registration_does_not_enumerate(client: httpx.AsyncClient) -> None:
    email = random_email()
    first = await client.post(
        "/api/register", json={"email": email, "username": "grace", "password": PASSWORD}
    )
    again = await client.post(
        "/api/register", json={"email": email.upper(), "password": "another pass phrase 77"}
    )
    fresh = await client.post("/api/register", json={"email": random_email(), "password": PASSWORD})
    assert first.status_code == again.status_code == fresh.status_code == 202
    assert first.json() == again.json() == fresh.json()
    # The existing account is untouched: its password still works, the second one does not.
    await login(client, email)
    retry = await client.post(
        "/api/login", json={"email": email, "password": "another pass phrase 77"}
    )
    assert retry.status_code == 401
    taken = await client.post(
        "/api/register", json={"email": random_email(), "username": "Grace", "password": PASSWORD}
    )
    assert taken.status_code == 409 and taken.json()["code"] == "username_taken"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com", "password": "short"}, "body.password"),
        ({"email": "a@example.com", "password": "a@example.com"}, "password"),
        ({"email": "longname@example.com", "password": "LongName@Example.com"}, "password"),
        (
            {"email": "x@example.com", "username": "rosalind_f", "password": "Rosalind_F"},
            "password",
        ),
        ({"email": "not-an-email", "password": PASSWORD}, "body.email"),
        ({"email": "a@example.com", "password": "é" * 40}, "body.password"),
        ({"email": "a@example.com", "password": PASSWORD, "admin": True}, "body.admin"),
        ({"password": PASSWORD}, "body.email"),
    ],
)
async def test_register_refuses_bad_input(
    client: httpx.AsyncClient, body: dict, field: str
) -> None:
    response = await client.post("/api/register", json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert set(error) == {"detail", "code"} and error["code"] == "validation_error"
    assert field in error["detail"]


async def test_wrong_password_and_unknown_account_look_the_same(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)
    durations: dict[str, list[float]] = {"wrong": [], "unknown": []}
    answers = {}
    for _ in range(3):
        for kind, email in (("wrong", user["email"]), ("unknown", random_email())):
            started = time.perf_counter()
            response = await client.post(
                "/api/login", json={"email": email, "password": "not the password!"}
            )
            durations[kind].append(time.perf_counter() - started)
            answers[kind] = (response.status_code, response.json())
    assert (
        answers["wrong"]
        == answers["unknown"]
        == (401, {"detail": "wrong email/username or password", "code": "invalid_credentials"})
    )
    wrong, unknown = statistics.median(durations["wrong"]), statistics.median(durations["unknown"])
    # Both paths spend one bcrypt verification (~0.2 s at cost 12).
    assert min(wrong, unknown) > 0.05
    assert abs(wrong - unknown) < 0.5 * max(wrong, unknown), (wrong, unknown)


async def test_delete_me_erases_everything(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    user_id, headers = await new_user(client)
    other_id, _ = await new_user(client)
    for owner in (user_id, other_id):
        await insert_every_type(db, owner, date(2026, 1, 5))
        await insert_trend(db, owner, "sleep_score", date(2026, 1, 5), 80)
        await db.execute(
            "INSERT INTO collection_cursors (user_id, data_type) VALUES ($1, 'daily_sleep')", owner
        )
    response = await client.delete("/api/me", headers=headers)
    assert response.status_code == 202 and response.json()["status"] == "in_progress"
    for table in [*TYPED_COLUMNS, "daily_trends", "collection_cursors", "users"]:
        column = "id" if table == "users" else "user_id"
        mine = await db.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", user_id)
        theirs = await db.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", other_id)
        assert (mine, theirs) == (0, 1), table
    # The token of an erased account is dead, on every route.
    for path in ("/api/me", "/api/dashboard", "/api/sleep"):
        again = await client.get(path, headers=headers)
        assert again.status_code == 401 and again.json()["code"] == "invalid_token", path


async def test_login_body_errors(client: httpx.AsyncClient) -> None:
    cases = [
        ({"password": "x"}, 422),
        ({"email": "a@example.com"}, 422),
        ({"email": "a@example.com", "password": "x" * 2000}, 422),
    ]
    for body, status in cases:
        r = await client.post("/api/login", json=body)
        assert r.status_code == status and set(r.json()) == {"detail", "code"}
    r = await client.post(
        "/api/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
