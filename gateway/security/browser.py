"""What binds the web pages to one browser: the session cookie, CSRF tokens, the connect
cookie's nonce and the PKCE verifier derived from it, and the signed link that hands an API
client's connect over to a browser.

Every value is signed with a key derived from JWT_SECRET for its own purpose, so none of them can
stand in for another (nor for an API access token, whose issuer differs)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import jwt

from gateway.security.signing import b64url, mac, purpose_key, sign, verified_body

SESSION_ISSUER = "myhealth-web"
_ALGORITHM = "HS256"


class InvalidBrowserToken(Exception):
    """A session or connect link that is forged, malformed or expired."""


@dataclass(frozen=True, slots=True)
class BrowserSession:
    user_id: UUID
    token_version: int
    session_id: str


def _key(secret: str, purpose: str) -> bytes:
    return purpose_key(secret, f"myhealth web {purpose} v1")


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def create_session(user_id: UUID, *, version: int, secret: str, ttl_s: int) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "ver": version,
        "sid": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + timedelta(seconds=ttl_s),
        "iss": SESSION_ISSUER,
    }
    return jwt.encode(claims, _key(secret, "session"), algorithm=_ALGORITHM)


def read_session(token: str, *, secret: str) -> BrowserSession:
    try:
        claims = jwt.decode(
            token,
            _key(secret, "session"),
            algorithms=[_ALGORITHM],
            issuer=SESSION_ISSUER,
            options={"require": ["exp", "sub", "sid", "iss"]},
        )
        return BrowserSession(UUID(str(claims["sub"])), int(claims["ver"]), str(claims["sid"]))
    except (jwt.InvalidTokenError, KeyError, ValueError, TypeError):
        raise InvalidBrowserToken from None


def csrf_token(*, secret: str, csrf_cookie: str, session_id: str) -> str:
    """The token every form carries: bound to the browser's CSRF cookie and to its session, so
    neither another site (which cannot read the cookie) nor an older session can forge it."""
    message = f"{csrf_cookie}|{session_id}".encode()
    return mac(_key(secret, "csrf"), message)


def csrf_valid(token: str, *, secret: str, csrf_cookie: str, session_id: str) -> bool:
    expected = csrf_token(secret=secret, csrf_cookie=csrf_cookie, session_id=session_id)
    return bool(csrf_cookie) and hmac.compare_digest(token.encode(), expected.encode())


def browser_hash(connect_nonce: str) -> bytes:
    """What the database keeps of the connect cookie's nonce."""
    return hashlib.sha256(connect_nonce.encode()).digest()


def pkce_verifier(connect_nonce: str, *, secret: str) -> str:
    """RFC 7636 code verifier (43 characters), derived from the connect cookie's nonce: only the
    browser that started the flow brings back what recomputes it, and nothing more is stored."""
    return mac(_key(secret, "pkce"), connect_nonce.encode())


def pkce_challenge(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode()).digest())


def sign_connect_link(user_id: UUID, *, secret: str, ttl_s: int) -> str:
    """The `for` value of an API client's connect link: which account the browser must be
    signed in as before it is sent to Oura."""
    expires = int((datetime.now(UTC) + timedelta(seconds=ttl_s)).timestamp())
    return sign(f"{user_id}.{expires}", _key(secret, "connect link"))


def read_connect_link(value: str, *, secret: str) -> UUID:
    body = verified_body(value, _key(secret, "connect link"))
    if body is None:
        raise InvalidBrowserToken
    user, _, expires = body.partition(".")
    try:
        user_id, expires_at = UUID(user), int(expires)
    except ValueError:
        raise InvalidBrowserToken from None
    if expires_at <= datetime.now(UTC).timestamp():
        raise InvalidBrowserToken
    return user_id
