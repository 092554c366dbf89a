"""bcrypt password hashing through pwdlib, off the event loop."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import TypeVar

from pwdlib import PasswordHash
from pwdlib.hashers.bcrypt import BcryptHasher

from gateway.errors import ApiError

BCRYPT_MAX_BYTES = 72
T = TypeVar("T")


class HashingBusy(ApiError):
    def __init__(self) -> None:
        super().__init__(
            503, "busy", "too many sign-ins at once; try again shortly", {"Retry-After": "1"}
        )


class Passwords:
    """Hash and verify with bcrypt at `rounds` (≥ 12). bcrypt takes a few hundred milliseconds by
    design, so it runs in a worker thread rather than stalling every other request."""

    def __init__(self, rounds: int = 12, *, concurrency: int = 2, queue: int = 32) -> None:
        if rounds < 12:
            raise ValueError("bcrypt cost must be at least 12")
        self._hasher = PasswordHash((BcryptHasher(rounds=rounds),))
        self._slots = asyncio.Semaphore(concurrency)
        self._admitted = 0
        self._limit = concurrency + queue
        # Verified against when the account does not exist, so a failed login costs one bcrypt
        # verification either way and its timing does not reveal which accounts exist.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def _bounded(self, work: Callable[..., T], *args: str) -> T:
        """Run bcrypt in a thread, at most `concurrency` at once; refuse beyond the queue rather
        than let waiting requests pile up behind a burst."""
        if self._admitted >= self._limit:
            raise HashingBusy
        self._admitted += 1
        try:
            async with self._slots:
                return await asyncio.to_thread(work, *args)
        finally:
            self._admitted -= 1

    async def hash(self, password: str) -> str:
        return await self._bounded(self._hasher.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """True when `password` matches; with no hash (unknown account) it still spends the time
        of one verification and answers False."""
        if len(password.encode()) > BCRYPT_MAX_BYTES:
            # No stored password is longer (registration refuses them); bcrypt would raise.
            await self._bounded(self._hasher.verify, "x", self._dummy_hash)
            return False
        if password_hash is None:
            await self._bounded(self._hasher.verify, password, self._dummy_hash)
            return False
        try:
            return await self._bounded(self._hasher.verify, password, password_hash)
        except ValueError:
            return False
