"""OAuth `state`: a random nonce bound to the user and an expiry, signed with a key derived from
JWT_SECRET. The signature rejects forgeries without a database read; the `oauth_states` row makes
it single-use."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from gateway.security.refusal import Refused
from gateway.security.signing import b64url, purpose_key, sign, unb64url, verified_body

_PURPOSE = "myhealth oauth state v1"


class InvalidState(Refused):
    """A state this server did not issue, malformed or expired."""


@dataclass(frozen=True, slots=True)
class StateClaims:
    nonce: str
    user_id: UUID
    expires_at: datetime


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def sign_state(claims: StateClaims, *, secret: str) -> str:
    payload = json.dumps(
        {"n": claims.nonce, "u": str(claims.user_id), "e": int(claims.expires_at.timestamp())},
        separators=(",", ":"),
    ).encode()
    return sign(b64url(payload), purpose_key(secret, _PURPOSE))


def read_state(state: str, *, secret: str) -> StateClaims:
    """Verify the signature and the expiry; raises InvalidState."""
    body = verified_body(state, purpose_key(secret, _PURPOSE))
    if body is None:
        raise InvalidState("invalid_state", "the OAuth state is not one this server issued")
    try:
        payload = json.loads(unb64url(body))
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
