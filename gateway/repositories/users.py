"""The `users` table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from schemas.db import Queries, labelled


class EmailTaken(Exception):
    """Another account already uses this email address."""


class UsernameTaken(Exception):
    """Another account already uses this username."""


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    email: str
    username: str | None
    password_hash: str
    created_at: datetime
    token_version: int


_COLUMNS = "id, email, username, password_hash, created_at, token_version"


def _user(row: Any) -> User | None:
    return None if row is None else User(**dict(row))


async def create_user(
    conn: Queries, *, email: str, username: str | None, password_hash: str
) -> User:
    """Insert an account; raises EmailTaken / UsernameTaken (unique, case-insensitive)."""
    conn = labelled(conn, "create_user")
    import asyncpg

    try:
        row = await conn.fetchrow(
            f"INSERT INTO users (email, username, password_hash) VALUES ($1, $2, $3) "
            f"RETURNING {_COLUMNS}",
            email,
            username,
            password_hash,
        )
    except asyncpg.UniqueViolationError as exc:
        if "username" in (exc.constraint_name or ""):
            raise UsernameTaken(username) from None
        raise EmailTaken(email) from None
    user = _user(row)
    assert user is not None
    return user


async def get_user(conn: Queries, user_id: UUID) -> User | None:
    conn = labelled(conn, "get_user")
    return _user(await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1", user_id))


async def find_by_login(conn: Queries, login: str) -> User | None:
    """The account whose email or username is `login` (case-insensitive)."""
    conn = labelled(conn, "find_by_login")
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM users WHERE lower(email) = lower($1) "
        f"OR (username IS NOT NULL AND lower(username) = lower($1)) LIMIT 1",
        login,
    )
    return _user(row)


async def set_password(conn: Queries, user_id: UUID, password_hash: str) -> None:
    conn = labelled(conn, "set_password")
    await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)
