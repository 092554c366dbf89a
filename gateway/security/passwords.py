"""bcrypt password hashing through pwdlib, off the event loop."""

from __future__ import annotations

import asyncio
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.bcrypt import BcryptHasher

BCRYPT_MAX_BYTES = 72


class Passwords:
    """Hash and verify with bcrypt at `rounds` (≥ 12). bcrypt takes a few hundred milliseconds by
    design, so it runs in a worker thread rather than stalling every other request."""

    def __init__(self, rounds: int = 12) -> None:
        if rounds < 12:
            raise ValueError("bcrypt cost must be at least 12")
        self._hasher = PasswordHash((BcryptHasher(rounds=rounds),))
        # Verified against when the account does not exist, so a failed login costs one bcrypt
        # verification either way and its timing does not reveal which accounts exist.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """True when `password` matches; with no hash (unknown account) it still spends the time
        of one verification and answers False."""
        if len(password.encode()) > BCRYPT_MAX_BYTES:
            # No stored password is longer (registration refuses them); bcrypt would raise.
            await asyncio.to_thread(self._hasher.verify, "x", self._dummy_hash)
            return False
        if password_hash is None:
            await asyncio.to_thread(self._hasher.verify, password, self._dummy_hash)
            return False
        try:
            return await asyncio.to_thread(self._hasher.verify, password, password_hash)
        except ValueError:
            return False
