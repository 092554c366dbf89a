"""Keys derived from JWT_SECRET, one per purpose, and the values signed with them.

A key made for one purpose never verifies a value made for another: a CSRF token cannot pass
for a connect link, nor an OAuth state for a session."""

from __future__ import annotations

import base64
import hashlib
import hmac


def purpose_key(secret: str, label: str) -> bytes:
    return hmac.new(secret.encode(), label.encode(), hashlib.sha256).digest()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mac(key: bytes, message: bytes) -> str:
    """HMAC-SHA256 of `message`, URL-safe base64 without padding."""
    return b64url(hmac.new(key, message, hashlib.sha256).digest())


def sign(body: str, key: bytes) -> str:
    return f"{body}.{mac(key, body.encode())}"


def verified_body(value: str, key: bytes) -> str | None:
    """The body of a `sign`ed value; None when its signature does not match (compared in
    constant time)."""
    body, _, tag = value.rpartition(".")
    if not body or not hmac.compare_digest(tag.encode(), mac(key, body.encode()).encode()):
        return None
    return body
