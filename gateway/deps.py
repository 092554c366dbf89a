"""Request-scoped dependencies, with `Annotated` aliases for route signatures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.cache import UserCache
from gateway.erasure import Eraser
from gateway.errors import ApiError
from gateway.metrics import CACHE_HITS
from gateway.repositories import sessions
from gateway.security.access_tokens import InvalidAccessToken, read_access_claims
from gateway.security.passwords import Passwords
from gateway.security.throttle import AuthThrottle
from gateway.settings import GatewaySettings
from oura_connection import OuraOAuthClient, TokenCipher
from schemas.db import Pool
from schemas.settings import KafkaSettings

T = TypeVar("T")


@dataclass
class Accounts:
    """What the account and session routes, the sign-in pages and every bearer-token check
    use: passwords, login throttles, the sessions' tables and the per-process user cache; the
    eraser that `DELETE /api/me` hands the Kafka side of an erasure to."""

    settings: GatewaySettings
    pool: Pool
    cache: UserCache
    passwords: Passwords
    throttle: AuthThrottle
    eraser: Eraser | None = None
    verified_tokens: dict[str, tuple[UUID, float, int]] = field(default_factory=dict)


@dataclass
class Connections:
    """What connecting a user to Oura uses (the connect routes and pages, refresh, status,
    disconnect, and the revocation of an erased account's grant): the OAuth client, the token
    cipher, and the backfills a connect starts."""

    settings: GatewaySettings
    pool: Pool
    cache: UserCache
    oauth: OuraOAuthClient
    cipher: TokenCipher | None
    background: set[Any] = field(default_factory=set)

    def require_cipher(self) -> TokenCipher:
        if self.cipher is None:
            raise ApiError(
                503, "not_configured", "Oura connections need TOKEN_ENCRYPTION_KEYS on the server"
            )
        return self.cipher


@dataclass(frozen=True, slots=True)
class Reads:
    """What the read routes use (data, trends, dashboard, erasure receipts): the query pool,
    the per-process cache and the date window's bounds (GATEWAY_DEFAULT_RANGE_DAYS,
    GATEWAY_MAX_RANGE_DAYS)."""

    pool: Pool
    cache: UserCache
    default_range_days: int
    max_range_days: int


@dataclass(frozen=True, slots=True)
class Exports:
    """What `GET /api/export` uses: its own pool (GATEWAY_EXPORT_POOL_MAX) and how long to wait
    for one of its connections."""

    pool: Pool
    acquire_timeout_s: float


@dataclass(frozen=True, slots=True)
class Webhooks:
    """What Oura's webhook routes use: the pool (whose account an event names) and the
    settings (whether webhooks are on, their secrets and limits)."""

    pool: Pool
    settings: GatewaySettings


@dataclass(slots=True)
class Readiness:
    """What `GET /ready` checks, and its last answer (kept GATEWAY_READY_CACHE_S)."""

    pool: Pool
    kafka: KafkaSettings
    cache_s: float
    answer: tuple[float, dict[str, str]] | None = None
    """(monotonic time it expires, the checks)"""


class FromState(Generic[T]):
    """A dependency handing out what the lifespan put at `app.state.<name>`."""

    def __init__(self, name: str) -> None:
        self._name = name

    async def __call__(self, request: Request) -> T:
        found: T = getattr(request.app.state, self._name)
        return found


get_accounts = FromState[Accounts]("accounts")
get_connections = FromState[Connections]("connections")
get_reads = FromState[Reads]("reads")
get_exports = FromState[Exports]("exports")
get_webhooks = FromState[Webhooks]("webhooks")
get_readiness = FromState[Readiness]("readiness")

AccountsDep = Annotated[Accounts, Depends(get_accounts)]
ConnectionsDep = Annotated[Connections, Depends(get_connections)]
ReadsDep = Annotated[Reads, Depends(get_reads)]
ExportsDep = Annotated[Exports, Depends(get_exports)]
WebhooksDep = Annotated[Webhooks, Depends(get_webhooks)]
ReadinessDep = Annotated[Readiness, Depends(get_readiness)]

_bearer = HTTPBearer(auto_error=False, description="The access token from POST /api/login")


# Verified tokens -> (user id, expiry, version): a repeat request with the same token skips the
# HMAC check. Keyed by the exact token text, so only bytes that verified once are trusted; expiry
# and the account's token version are still checked on every use. The settings (and so the
# secret) are fixed for the life of the process, which a secret rotation restarts.
_VERIFIED_MAX = 100_000


def _claims_of_token(accounts: Accounts, token: str) -> tuple[UUID, int]:
    verified = accounts.verified_tokens
    cached = verified.get(token)
    if cached is not None and cached[1] > time.time():
        return cached[0], cached[2]
    secret = accounts.settings.jwt_secret.get_secret_value()
    user_id, expires, version = read_access_claims(token, secret=secret)
    if len(verified) >= _VERIFIED_MAX:
        verified.clear()
    verified[token] = (user_id, expires, version)
    return user_id, version


async def current_token_version(accounts: Accounts, user_id: UUID) -> int | None:
    """The account's token version from the per-process cache (dropped on every replica through
    NOTIFY), else the database; None when the account does not exist."""
    current = accounts.cache.token_version(user_id)
    if current is not None:
        CACHE_HITS.labels("user").inc()
        return current
    epoch = accounts.cache.epoch
    current = await sessions.token_version(accounts.pool, user_id)
    if current is not None:
        accounts.cache.remember_user(user_id, current, epoch)
    return current


async def current_user_id(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> UUID:
    """The authenticated user's id: a valid HS256 token of an existing account, issued under
    the account's current token version (no logout or password change since). The version
    comes from the per-process cache, so a cached request costs no database round trip."""
    accounts: Accounts = request.app.state.accounts
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(
            401, "not_authenticated", "an Authorization: Bearer token is required", challenge
        )
    try:
        user_id, claimed = _claims_of_token(accounts, credentials.credentials)
    except InvalidAccessToken as exc:
        raise ApiError(401, exc.code, exc.detail, challenge) from None
    current = await current_token_version(accounts, user_id)
    if current is None:
        raise ApiError(
            401, "invalid_token", "the access token's account no longer exists", challenge
        )
    if claimed != current:
        raise ApiError(
            401, "token_revoked", "this session has ended (logout or password change)", challenge
        )
    return user_id


CurrentUserId = Annotated[UUID, Depends(current_user_id)]
