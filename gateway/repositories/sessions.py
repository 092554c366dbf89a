"""Sessions: `users.token_version` (every access token carries it) and the `refresh_tokens`
table (single-use tokens, stored as SHA-256 hashes, in families that die together)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from uuid import UUID

from schemas.db import Connection, Queries, labelled


class RefreshRejected(Exception):
    """Unknown, expired, revoked or already used (a reuse also revokes its family)."""


@dataclass(frozen=True, slots=True)
class Session:
    user_id: UUID
    token_version: int
    refresh_token: str


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def token_version(conn: Queries, user_id: UUID) -> int | None:
    """The account's current token version; None when the account does not exist."""
    conn = labelled(conn, "token_version")
    value = await conn.fetchval("SELECT token_version FROM users WHERE id = $1", user_id)
    return None if value is None else int(value)


async def start(conn: Queries, *, user_id: UUID, version: int, ttl_s: int) -> str:
    """A new session's first refresh token (the plaintext; only its hash is stored)."""
    return await _issue(conn, user_id=user_id, version=version, family=uuid.uuid4(), ttl_s=ttl_s)


async def _issue(conn: Queries, *, user_id: UUID, version: int, family: UUID, ttl_s: int) -> str:
    conn = labelled(conn, "issue")
    token = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, user_id, family, token_version, expires_at) "
        "VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
        _hash(token),
        user_id,
        family,
        version,
        float(ttl_s),
    )
    return token


async def rotate(conn: Connection, token: str, *, ttl_s: int) -> Session:
    """Spend `token` and issue the next of its family, in one transaction. A token used twice
    means a copy is in someone else's hands: the whole family is revoked."""
    conn = labelled(conn, "rotate")
    session: Session | None = None
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT r.user_id, r.family, r.token_version, r.used_at, r.revoked_at, "
            "r.expires_at > now() AS live, u.token_version AS current_version "
            "FROM refresh_tokens r JOIN users u ON u.id = r.user_id "
            "WHERE r.token_hash = $1 FOR UPDATE OF r",
            _hash(token),
        )
        if row is None:
            raise RefreshRejected
        if row["used_at"] is not None:
            # Committed before answering: the refusal must not roll the revocation back.
            await conn.execute(
                "UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now()) "
                "WHERE family = $1",
                row["family"],
            )
        elif (
            row["revoked_at"] is None
            and row["live"]
            and row["token_version"] == row["current_version"]
        ):
            await conn.execute(
                "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1", _hash(token)
            )
            version = int(row["current_version"])
            following = await _issue(
                conn, user_id=row["user_id"], version=version, family=row["family"], ttl_s=ttl_s
            )
            session = Session(row["user_id"], version, following)
    if session is None:
        raise RefreshRejected
    return session


async def end_all(conn: Queries, user_id: UUID) -> int:
    """Revoke every session of the account: a new token version (every access token issued
    before is refused) and every refresh token revoked. Returns the new version."""
    conn = labelled(conn, "end_all")
    version = await conn.fetchval(
        "UPDATE users SET token_version = token_version + 1 WHERE id = $1 RETURNING token_version",
        user_id,
    )
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
    )
    return int(version)
