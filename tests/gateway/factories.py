"""Test data: accounts through the API, documents and trends straight into their tables (the
stream processor's job in production)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from gateway.repositories.documents import TYPED_COLUMNS
from schemas.examples import example_document
from schemas.records import content_hash, document_key

PASSWORD = "correct horse battery staple"


def random_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


async def register(
    client: httpx.AsyncClient,
    email: str | None = None,
    password: str = PASSWORD,
    username: str | None = None,
) -> dict[str, Any]:
    """A new account: its email, username and password, and its id (read after a login, since
    registration answers the same for every email)."""
    body: dict[str, Any] = {"email": email or random_email(), "password": password}
    if username:
        body["username"] = username
    response = await client.post("/api/register", json=body)
    assert response.status_code == 202, response.text
    token = await login(client, body["email"], password)
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    return {**me.json(), "password": password, "token": token}


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert isinstance(token, str)
    return token


async def new_user(client: httpx.AsyncClient) -> tuple[uuid.UUID, dict[str, str]]:
    """A registered, logged-in user: (id, Authorization headers)."""
    user = await register(client)
    return uuid.UUID(user["id"]), {"Authorization": f"Bearer {user['token']}"}


def _typed_value(kind: type, value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return None
    if kind is datetime and isinstance(value, str):
        return datetime.fromisoformat(value)
    if kind is date and isinstance(value, str):
        return date.fromisoformat(value)
    if kind is int and isinstance(value, int | float):
        return int(value)
    if kind is float and isinstance(value, int | float):
        return float(value)
    if kind is str:
        return str(value)
    return None


def typed_columns(data_type: str, document: dict[str, Any]) -> dict[str, Any]:
    values = {
        name: _typed_value(kind, document.get(name)) for name, kind in TYPED_COLUMNS[data_type]
    }
    if data_type == "heartrate":
        bpms = [r["bpm"] for r in document.get("rows", [])]
        values.update(
            sample_count=len(bpms),
            bpm_min=min(bpms, default=None),
            bpm_max=max(bpms, default=None),
            bpm_avg=sum(bpms) / len(bpms) if bpms else None,
        )
    return values


def heartrate_document(day: date, seed: int) -> dict[str, Any]:
    start = datetime.combine(day, datetime.min.time(), UTC)
    rows = [
        {
            "timestamp": (start + timedelta(minutes=5 * i)).isoformat(),
            "timestamp_unix": int((start + timedelta(minutes=5 * i)).timestamp() * 1000),
            "bpm": 55 + (i + seed) % 30,
            "source": "awake",
        }
        for i in range(12)
    ]
    return {"day": day.isoformat(), "rows": rows}


def document_for(data_type: str, day: date, seed: int = 0) -> dict[str, Any]:
    if data_type == "heartrate":
        return heartrate_document(day, seed)
    return example_document(data_type, day=day, seed=seed)


async def insert_document(
    pool: Any, user_id: uuid.UUID, data_type: str, document: dict[str, Any], day: date | None = None
) -> str:
    try:
        doc_id = document_key(data_type, document)
    except ValueError:
        doc_id = f"{data_type}:{uuid.uuid4().hex}"
    typed = typed_columns(data_type, document)
    if data_type == "daily_sleep" and "score" in document:
        typed["score"] = document["score"]
    columns = ["user_id", "id", "day", *typed, "document", "content_hash", "fetched_at"]
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    await pool.execute(
        f"INSERT INTO {data_type} ({', '.join(columns)}) VALUES ({placeholders}) "
        f"ON CONFLICT (user_id, id) DO NOTHING",
        user_id,
        doc_id,
        day,
        *typed.values(),
        json.dumps(document),
        content_hash(document),
        datetime.now(UTC),
    )
    return doc_id


async def insert_days(
    pool: Any, user_id: uuid.UUID, data_type: str, days: list[date], seed: int = 0, **overrides: Any
) -> list[str]:
    ids = []
    for day in days:
        document = {**document_for(data_type, day, seed), **overrides}
        ids.append(await insert_document(pool, user_id, data_type, document, day))
    return ids


async def insert_every_type(pool: Any, user_id: uuid.UUID, day: date, seed: int = 0) -> None:
    for data_type in TYPED_COLUMNS:
        dated = data_type not in ("ring_configuration", "personal_info")
        await insert_document(
            pool, user_id, data_type, document_for(data_type, day, seed), day if dated else None
        )


async def insert_trend(
    pool: Any, user_id: uuid.UUID, metric: str, day: date, value: float, flag: bool = False
) -> None:
    await pool.execute(
        "INSERT INTO daily_trends (user_id, metric, day, value, mean_7d, mean_28d, baseline, "
        "baseline_spread, deviation, direction, flag) "
        "VALUES ($1, $2, $3, $4, $4, $4, $4, 1.0, $5, $6, $7)",
        user_id,
        metric,
        day,
        value,
        2.5 if flag else 0.1,
        "up" if flag else "flat",
        flag,
    )


def days_back(count: int, end: date | None = None) -> list[date]:
    end = end or datetime.now(UTC).date()
    return [end - timedelta(days=i) for i in range(count)][::-1]
