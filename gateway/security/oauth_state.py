"""OAuth `state`: a random nonce bound to the user and an expiry, signed with a key derived from
JWT_SECRET. The signature rejects forgeries without a database read; the `oauth_states` row makes
it single-use."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID


class InvalidState(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class StateClaims:
    nonce: str
    user_id: UUID
    expires_at: datetime


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"myhealth oauth state v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def sign_state(claims: StateClaims, *, secret: str) -> str:
    payload = json.dumps(
        {"n": claims.nonce, "u": str(claims.user_id), "e": int(claims.expires_at.timestamp())},
        separators=(",", ":"),
    ).encode()
    body = _b64(payload)
    mac = hmac.new(_key(secret), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def read_state(state: str, *, secret: str) -> StateClaims:
    """Verify the signature and the expiry; raises InvalidState."""
    body, _, mac = state.partition(".")
    expected = _b64(hmac.new(_key(secret), body.encode(), hashlib.sha256).digest())
    if not mac or not hmac.compare_digest(mac.encode(), expected.encode()):
        raise InvalidState("invalid_state", "the OAuth state is not one this server issued")
    try:
        payload = json.loads(_unb64(body))
        claims = StateClaims(
            nonce=str(payload["n"]),
            user_id=UUID(str(payload["u"])),
            expires_at=datetime.fromtimestamp(int(payload["e"]), UTC),
        )
    except (ValueError, KeyError, TypeError):
        raise InvalidState("invalid_state", "the OAuth state is malformed") from None
    if claims.expires_at <= datetime.now(UTC):
        raise InvalidState("state_expired", "the OAuth state has expired: start connecting again")
    return claims
