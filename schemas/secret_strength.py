"""How guessable a configured secret is, judged from its own characters.

A length rule alone accepts `'a' * 32`; the estimate here (length times the Shannon entropy of the
secret's character distribution) gives such a string 0 bits while any generated secret
(`secrets.token_urlsafe(32)`, 64 hex digits) scores well above the bar."""

from __future__ import annotations

import math
from collections import Counter

MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 128
# Values copied from an example file are public: refused in every environment.
PLACEHOLDER_MARKERS = ("change-me", "changeme", "replace-me")


def estimated_bits(secret: str) -> float:
    if not secret:
        return 0.0
    counts = Counter(secret)
    per_char = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    return per_char * len(secret)


def is_placeholder(secret: str) -> bool:
    lowered = secret.lower()
    return any(marker in lowered for marker in PLACEHOLDER_MARKERS)


def weakness(name: str, secret: str) -> str | None:
    """Why `secret` must not be used in production, or None when it may."""
    if not secret:
        return f"{name} is unset"
    if is_placeholder(secret):
        return f"{name} is a placeholder from an example file"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"{name} is {len(secret)} characters; at least {MIN_SECRET_LENGTH} needed"
    bits = estimated_bits(secret)
    if bits < MIN_SECRET_BITS:
        return (
            f"{name} is too predictable (about {bits:.0f} bits; at least {MIN_SECRET_BITS} needed:"
            ' python -c "import secrets; print(secrets.token_urlsafe(48))")'
        )
    return None
