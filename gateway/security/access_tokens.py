"""Access tokens: JWT signed with HS256, short-lived (JWT_TTL_S, 15 minutes), subject = the
user's id, `ver` = the account's token version when issued (a logout or a password change bumps
it, which refuses every older token).

Only HS256 is accepted when decoding, which rejects `alg: none` and algorithm-confusion tokens;
`exp`, `iat` and `sub` are required."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import jwt

from gateway.security.refusal import Refused

ALGORITHM = "HS256"
ISSUER = "myhealth-gateway"


class InvalidAccessToken(Refused):
    """A token that is forged, expired, malformed or of another issuer."""


def create_access_token(user_id: UUID, *, secret: str, ttl_s: int, version: int = 0) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "ver": version,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=ttl_s),
        "iss": ISSUER,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_access_claims(token: str, *, secret: str) -> tuple[UUID, float, int]:
    """(user id, expiry as a UNIX time, token version) of a valid token; raises
    InvalidAccessToken."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise InvalidAccessToken("token_expired", "the access token has expired") from None
    except jwt.InvalidTokenError:
        raise InvalidAccessToken("invalid_token", "the access token is not valid") from None
    try:
        return UUID(str(claims["sub"])), float(claims["exp"]), int(claims.get("ver", 0))
    except (ValueError, TypeError):
        raise InvalidAccessToken("invalid_token", "the access token is not valid") from None
