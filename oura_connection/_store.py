"""`oauth_tokens` in PostgreSQL, and every query on it: tokens stored encrypted, refreshed ahead
of expiry, one refresh at a time per user across every process (collectors, backfills, gateway
replicas), the Oura account they belong to, and connections counted by status.

Oura's refresh tokens are single-use. Two processes refreshing with the same refresh token would
leave one of them holding a dead pair, so a refresh takes `SELECT ... FOR UPDATE` on the user's
row, re-checks whether someone else already refreshed, and persists the rotated pair in the same
transaction before the lock is released."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from oura_connection._cipher import TokenCipher, TokenCipherError
from oura_connection._oauth import InvalidGrant, OAuthError, OuraOAuthClient, TokenGrant
from oura_connection.metrics import TOKEN_REFRESH_FAILURES, TOKEN_REFRESHES
from schemas.db import Pool, Queries, Record, labelled
from schemas.tables import collection_cursors
from schemas.tables.collection_cursors import CursorStatus

log = logging.getLogger("oura_connection.tokens")


class NotConnected(LookupError):
    """The user has no Oura connection."""


class NeedsReauth(Exception):
    """The connection exists but its tokens are dead: the user must reconnect."""


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    status: str
    """active | needs_reauth | revoked"""
    scopes: list[str]
    oura_user_id: str | None
    expires_at: datetime
    connected_at: datetime
    last_refreshed_at: datetime | None
    last_error: str | None
    data_types: dict[str, CursorStatus] = field(default_factory=dict)

    @property
    def last_success_at(self) -> dict[str, datetime | None]:
        return {name: t.last_success_at for name, t in self.data_types.items()}


_UPSERT_GRANT = """
INSERT INTO oauth_tokens (user_id, oura_user_id, access_token_ciphertext,
                          refresh_token_ciphertext, expires_at, scopes, status,
                          refresh_failures, last_error, connected_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, 'active', 0, NULL, now(), now())
ON CONFLICT (user_id) DO UPDATE SET
    oura_user_id = COALESCE(EXCLUDED.oura_user_id, oauth_tokens.oura_user_id),
    access_token_ciphertext = EXCLUDED.access_token_ciphertext,
    refresh_token_ciphertext = EXCLUDED.refresh_token_ciphertext,
    expires_at = EXCLUDED.expires_at,
    scopes = EXCLUDED.scopes,
    status = 'active',
    refresh_failures = 0,
    last_error = NULL,
    connected_at = now(),
    updated_at = now()
"""

_LOCK_ROW = """
SELECT access_token_ciphertext, refresh_token_ciphertext, expires_at, scopes, status
FROM oauth_tokens WHERE user_id = $1 FOR UPDATE
"""

_SAVE_REFRESHED = """
UPDATE oauth_tokens SET access_token_ciphertext = $2, refresh_token_ciphertext = $3,
    expires_at = $4, scopes = $5, refresh_failures = 0, last_refreshed_at = now(),
    last_error = NULL, updated_at = now()
WHERE user_id = $1
"""

_MARK_NEEDS_REAUTH = """
UPDATE oauth_tokens SET status = 'needs_reauth', refresh_failures = refresh_failures + 1,
    last_error = $2, updated_at = now()
WHERE user_id = $1
"""

_NOTE_FAILURE = """
UPDATE oauth_tokens SET refresh_failures = refresh_failures + 1, last_error = $2,
    updated_at = now()
WHERE user_id = $1
"""

# One waiter per user inside a process holds a pooled connection on the row lock; the others
# wait here, so a burst of 401s from concurrent requests does not drain the pool.
_local_locks: dict[UUID, asyncio.Lock] = {}


def _local_lock(user_id: UUID) -> asyncio.Lock:
    lock = _local_locks.get(user_id)
    if lock is None:
        lock = _local_locks[user_id] = asyncio.Lock()
    return lock


def _now() -> datetime:
    return datetime.now(UTC)


async def store_grant(
    conn_or_pool: Queries,
    user_id: UUID,
    grant: TokenGrant,
    cipher: TokenCipher,
    oura_user_id: str | None = None,
) -> None:
    """Upsert the user's connection with a fresh grant; the connection becomes active. Inside
    the caller's transaction when given a connection."""
    db = labelled(conn_or_pool, "store_grant")
    await db.execute(
        _UPSERT_GRANT,
        user_id,
        oura_user_id,
        cipher.encrypt(grant.access_token),
        cipher.encrypt(grant.refresh_token),
        grant.expires_at,
        grant.scopes,
    )
    await collection_cursors.retry_not_granted(db, user_id)


async def set_oura_user_id(conn_or_pool: Queries, user_id: UUID, oura_user_id: str) -> None:
    """Remember which Oura account the connection belongs to (webhook events name it)."""
    await labelled(conn_or_pool, "set_oura_user_id").execute(
        "UPDATE oauth_tokens SET oura_user_id = $2, updated_at = now() WHERE user_id = $1",
        user_id,
        oura_user_id,
    )


async def users_without_oura_id(db: Queries) -> list[UUID]:
    """Active connections made before Oura's user id was stored at connect time."""
    rows = await labelled(db, "users_without_oura_id").fetch(
        "SELECT user_id FROM oauth_tokens WHERE status = 'active' AND oura_user_id IS NULL "
        "ORDER BY user_id"
    )
    return [r["user_id"] for r in rows]


async def users_of_oura_account(db: Queries, oura_user_id: str) -> list[UUID]:
    """The platform users with an active connection to this Oura account (more than one when
    several accounts connected the same ring)."""
    rows = await labelled(db, "users_of_oura_account").fetch(
        "SELECT user_id FROM oauth_tokens WHERE oura_user_id = $1 AND status = 'active' "
        "ORDER BY user_id",
        oura_user_id,
    )
    return [r["user_id"] for r in rows]


async def active_connections(db: Queries) -> list[tuple[UUID, list[str]]]:
    """(user, granted scopes) of every active connection: whom a scheduled run collects for."""
    rows = await labelled(db, "active_connections").fetch(
        "SELECT user_id, scopes FROM oauth_tokens WHERE status = 'active' ORDER BY user_id"
    )
    return [(r["user_id"], list(r["scopes"])) for r in rows]


@dataclass(frozen=True, slots=True)
class ConnectionCount:
    status: str
    connections: int
    refresh_failing: int
    """Of them, those whose last token refresh failed (refresh_failures > 0)."""


async def connections_by_status(db: Queries) -> list[ConnectionCount]:
    """How many connections there are in each status (no user named): for sync status."""
    rows = await db.fetch(
        "SELECT status, count(*) AS n, count(*) FILTER (WHERE refresh_failures > 0) AS failing "
        "FROM oauth_tokens GROUP BY status"
    )
    return [ConnectionCount(r["status"], r["n"], r["failing"]) for r in rows]


def _usable(user_id: UUID, row: Record | None) -> Record:
    """The token row, when the user has a connection that is active."""
    if row is None:
        raise NotConnected(f"user {user_id} has no Oura connection")
    if row["status"] != "active":
        raise NeedsReauth(f"user {user_id}'s Oura connection is {row['status']}: reconnect")
    return row


async def get_access_token(
    pool: Pool,
    user_id: UUID,
    oauth: OuraOAuthClient,
    cipher: TokenCipher,
    *,
    min_validity: timedelta = timedelta(minutes=5),
) -> str:
    """A usable access token, refreshed first when it expires within `min_validity`.

    Raises NotConnected, NeedsReauth (refresh token dead: row marked needs_reauth) or OAuthError
    (Oura unreachable and the current token already expired)."""
    found = await labelled(pool, "get_access_token").fetchrow(
        "SELECT access_token_ciphertext, expires_at, status FROM oauth_tokens WHERE user_id = $1",
        user_id,
    )
    row = _usable(user_id, found)
    if row["expires_at"] - _now() > min_validity:
        return cipher.decrypt(row["access_token_ciphertext"])

    def fresh(locked: Record) -> bool:
        return bool(locked["expires_at"] - _now() > min_validity)

    access, _ = await _refresh_locked(pool, user_id, oauth, cipher, skip_if=fresh)
    return access


async def refresh_rejected(
    pool: Pool,
    user_id: UUID,
    oauth: OuraOAuthClient,
    cipher: TokenCipher,
    rejected_access_token: str,
) -> str:
    """After Oura answered 401 to `rejected_access_token`: refresh, unless another task or process
    has already replaced that token, and return the token to retry with."""

    def replaced(locked: Record) -> bool:
        current = cipher.decrypt(locked["access_token_ciphertext"])
        return current != rejected_access_token and locked["expires_at"] > _now()

    access, _ = await _refresh_locked(
        pool, user_id, oauth, cipher, skip_if=replaced, keep_old_on_failure=False
    )
    return access


async def refresh_now(
    pool: Pool, user_id: UUID, oauth: OuraOAuthClient, cipher: TokenCipher
) -> TokenGrant:
    """Refresh unconditionally (under the same per-user lock) and return the new grant."""
    _, grant = await _refresh_locked(
        pool, user_id, oauth, cipher, skip_if=None, keep_old_on_failure=False
    )
    assert grant is not None
    return grant


async def _refresh_locked(
    pool: Pool,
    user_id: UUID,
    oauth: OuraOAuthClient,
    cipher: TokenCipher,
    *,
    skip_if: Callable[[Record], bool] | None,
    keep_old_on_failure: bool = True,
) -> tuple[str, TokenGrant | None]:
    async with _local_lock(user_id), labelled(pool, "refresh_locked").acquire() as conn:
        failure: Exception | None = None
        async with conn.transaction():
            row = _usable(user_id, await conn.fetchrow(_LOCK_ROW, user_id))
            if skip_if is not None and skip_if(row):
                TOKEN_REFRESHES.labels("already_fresh").inc()
                return cipher.decrypt(row["access_token_ciphertext"]), None
            if row["refresh_token_ciphertext"] is None:
                failure = InvalidGrant("no refresh token stored")
                await conn.execute(_MARK_NEEDS_REAUTH, user_id, str(failure))
            else:
                try:
                    grant = await oauth.refresh(cipher.decrypt(row["refresh_token_ciphertext"]))
                except OAuthError as exc:
                    failure = exc
                    query = _MARK_NEEDS_REAUTH if isinstance(exc, InvalidGrant) else _NOTE_FAILURE
                    await conn.execute(query, user_id, str(exc)[:500])
                else:
                    scopes = grant.scopes or list(row["scopes"])
                    grant = TokenGrant(
                        grant.access_token, grant.refresh_token, grant.expires_at, scopes
                    )
                    await conn.execute(
                        _SAVE_REFRESHED,
                        user_id,
                        cipher.encrypt(grant.access_token),
                        cipher.encrypt(grant.refresh_token),
                        grant.expires_at,
                        scopes,
                    )
                    TOKEN_REFRESHES.labels("refreshed").inc()
                    return grant.access_token, grant
        # The failure is committed (needs_reauth / failure count); now report it.
        return _after_failure(user_id, row, cipher, failure, keep_old_on_failure)


def _after_failure(
    user_id: UUID, row: Record, cipher: TokenCipher, failure: Exception, keep_old: bool
) -> tuple[str, TokenGrant | None]:
    if isinstance(failure, InvalidGrant):
        TOKEN_REFRESHES.labels("invalid_grant").inc()
        TOKEN_REFRESH_FAILURES.labels("invalid_grant").inc()
        log.warning(
            "oura refresh token rejected; connection needs reauth", extra={"user_id": str(user_id)}
        )
        raise NeedsReauth(f"user {user_id}'s Oura refresh token was rejected: reconnect") from None
    TOKEN_REFRESHES.labels("failed").inc()
    TOKEN_REFRESH_FAILURES.labels(
        "retryable" if getattr(failure, "retryable", False) else "error"
    ).inc()
    if keep_old and row["expires_at"] > _now():
        log.warning(
            "oura token refresh failed; using the current token until it expires",
            extra={"user_id": str(user_id), "error": str(failure)},
        )
        return cipher.decrypt(row["access_token_ciphertext"]), None
    raise failure


async def forget_tokens(
    db: Queries, user_id: UUID, oauth: OuraOAuthClient, cipher: TokenCipher
) -> bool:
    """Disconnect: revoke both tokens at Oura, then delete them. When Oura cannot be reached or
    refuses, the connection stays `revoke_pending` with its tokens (encrypted) and the
    collector's next run tries again; deleting them would leave the grant alive at Oura with
    nothing left to revoke it with. True when the grant is gone and the tokens deleted."""
    db = labelled(db, "forget_tokens")
    row = await db.fetchrow(
        "SELECT access_token_ciphertext, refresh_token_ciphertext FROM oauth_tokens "
        "WHERE user_id = $1",
        user_id,
    )
    if row is None:
        return True
    try:
        # The refresh token first: it is what keeps the grant alive.
        for column in ("refresh_token_ciphertext", "access_token_ciphertext"):
            if row[column] is not None:
                await oauth.revoke(cipher.decrypt(row[column]))
    except (OAuthError, TokenCipherError) as exc:
        log.warning(
            "oura revoke failed; retried by the next collector run", extra={"error": str(exc)}
        )
        await db.execute(
            "UPDATE oauth_tokens SET status = 'revoke_pending', last_error = $2, "
            "updated_at = now() WHERE user_id = $1",
            user_id,
            f"revoke failed: {exc}"[:500],
        )
        return False
    await db.execute("DELETE FROM oauth_tokens WHERE user_id = $1", user_id)
    return True


async def retry_revocations(
    db: Queries, oauth: OuraOAuthClient, cipher: TokenCipher
) -> tuple[int, int]:
    """Revoke the grants of connections left `revoke_pending`: (revoked, still pending)."""
    rows = await labelled(db, "retry_revocations").fetch(
        "SELECT user_id FROM oauth_tokens WHERE status = 'revoke_pending'"
    )
    revoked = 0
    for row in rows:
        revoked += await forget_tokens(db, row["user_id"], oauth, cipher)
    return revoked, len(rows) - revoked


async def rotate_all_tokens(pool: Pool, cipher: TokenCipher) -> int:
    """Re-encrypt every stored token under the current (first) key; returns rows rewritten."""
    async with labelled(pool, "rotate_all_tokens").acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT user_id, access_token_ciphertext, refresh_token_ciphertext "
            "FROM oauth_tokens FOR UPDATE"
        )
        updates = [
            (
                row["user_id"],
                cipher.rotate(row["access_token_ciphertext"]),
                None
                if row["refresh_token_ciphertext"] is None
                else cipher.rotate(row["refresh_token_ciphertext"]),
            )
            for row in rows
        ]
        await conn.executemany(
            "UPDATE oauth_tokens SET access_token_ciphertext = $2, "
            "refresh_token_ciphertext = $3, updated_at = now() WHERE user_id = $1",
            updates,
        )
    return len(updates)


async def connection_status(db: Queries, user_id: UUID) -> ConnectionStatus | None:
    """The user's connection and per-data-type collection health; None when not connected."""
    row = await labelled(db, "connection_status").fetchrow(
        "SELECT status, scopes, oura_user_id, expires_at, connected_at, last_refreshed_at, "
        "last_error FROM oauth_tokens WHERE user_id = $1",
        user_id,
    )
    if row is None:
        return None
    return ConnectionStatus(
        status=row["status"],
        scopes=list(row["scopes"]),
        oura_user_id=row["oura_user_id"],
        expires_at=row["expires_at"],
        connected_at=row["connected_at"],
        last_refreshed_at=row["last_refreshed_at"],
        last_error=row["last_error"],
        data_types=await collection_cursors.cursor_statuses(db, user_id),
    )
