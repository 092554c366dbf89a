"""Request-scoped dependencies, with `Annotated` aliases for route signatures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from collector.tokens import OuraOAuthClient, TokenCipher
from gateway.cache import UserCache
from gateway.errors import ApiError
from gateway.metrics import CACHE_HITS
from gateway.repositories import users
from gateway.security.access_tokens import InvalidAccessToken, read_access_token_with_expiry
from gateway.security.passwords import Passwords
from gateway.security.throttle import AuthThrottle
from gateway.settings import GatewaySettings


@dataclass
class Services:
    """What the lifespan opens, shared by every request of this process."""

    settings: GatewaySettings
    pool: Any
    passwords: Passwords
    cache: UserCache
    throttle: AuthThrottle
    oauth: OuraOAuthClient
    cipher: TokenCipher | None
    export_pool: Any = None
    background: set[Any] = field(default_factory=set)
    verified_tokens: dict[str, tuple[UUID, float]] = field(default_factory=dict)

    def require_cipher(self) -> TokenCipher:
        if self.cipher is None:
            raise ApiError(
                503, "not_configured", "Oura connections need TOKEN_ENCRYPTION_KEYS on the server"
            )
        return self.cipher


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="The access token from POST /api/login")


# Verified tokens → (user id, expiry): a repeat request with the same token skips the HMAC
# check. Keyed by the exact token text, so only bytes that verified once are trusted; expiry is
# still checked on every use.
_VERIFIED_MAX = 100_000


def _user_of_token(services: Services, token: str) -> UUID:
    verified = services.verified_tokens
    cached = verified.get(token)
    if cached is not None and cached[1] > time.time():
        return cached[0]
    secret = services.settings.jwt_secret.get_secret_value()
    user_id, expires = read_access_token_with_expiry(token, secret=secret)
    if len(verified) >= _VERIFIED_MAX:
        verified.clear()
    verified[token] = (user_id, expires)
    return user_id


async def current_user_id(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> UUID:
    """The authenticated user's id: a valid HS256 token whose user still exists."""
    services: Services = request.app.state.services
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(
            401, "not_authenticated", "an Authorization: Bearer token is required", challenge
        )
    try:
        user_id = _user_of_token(services, credentials.credentials)
    except InvalidAccessToken as exc:
        raise ApiError(401, exc.code, exc.detail, challenge) from None
    if services.cache.user_known(user_id):
        CACHE_HITS.labels("user").inc()
        return user_id
    epoch = services.cache.epoch
    if not await users.user_exists(services.pool, user_id):
        raise ApiError(
            401, "invalid_token", "the access token's account no longer exists", challenge
        )
    services.cache.remember_user(user_id, epoch)
    return user_id


CurrentUserId = Annotated[UUID, Depends(current_user_id)]
