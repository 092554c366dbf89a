"""Login throttling per account and per client address, kept in PostgreSQL (`auth_throttle`) so
every replica sees the same counts."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from gateway.errors import ApiError
from gateway.repositories import auth_throttle
from gateway.settings import GatewaySettings


def client_address(request: Request, trusted_proxy_hops: int) -> str:
    """The caller's address: the TCP peer, or with N trusted proxies in front the N-th entry
    from the right of X-Forwarded-For (entries further left are client-controlled)."""
    peer = request.client.host if request.client else "unknown"
    if trusted_proxy_hops <= 0:
        return peer
    forwarded = [p.strip() for p in request.headers.get("x-forwarded-for", "").split(",")]
    forwarded = [p for p in forwarded if p]
    if len(forwarded) >= trusted_proxy_hops:
        return forwarded[-trusted_proxy_hops][:64]
    return peer


class LoginThrottle:
    def __init__(self, settings: GatewaySettings) -> None:
        self._s = settings

    def _keys(self, login: str, address: str) -> list[tuple[str, str]]:
        return [("account", login[:254]), ("address", address)]

    async def check(self, conn: Any, *, login: str, address: str) -> None:
        """Raise 429 while the account or the address is locked."""
        until = await auth_throttle.locked_until(conn, self._keys(login, address))
        if until is not None:
            wait = max(1, math.ceil((until - datetime.now(UTC)).total_seconds()))
            raise ApiError(
                429,
                "too_many_attempts",
                f"too many failed logins; try again in {wait} seconds",
                headers={"Retry-After": str(wait)},
            )

    async def failed(self, conn: Any, *, login: str, address: str) -> None:
        limits = {
            "account": self._s.login_max_failures_account,
            "address": self._s.login_max_failures_address,
        }
        for scope, key in self._keys(login, address):
            await auth_throttle.record_failure(
                conn,
                scope=scope,
                key=key,
                max_failures=limits[scope],
                window_s=self._s.login_window_s,
                lockout_s=self._s.login_lockout_s,
            )

    async def succeeded(self, conn: Any, *, login: str) -> None:
        await auth_throttle.clear(conn, scope="account", key=login[:254])
