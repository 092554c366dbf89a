"""Throttling that protects without becoming a weapon, kept in PostgreSQL (`auth_throttle`) so
every replica sees the same counts.

- Failed logins are counted per (account, client address) pair: after a few free failures each
  further one doubles the pair's wait. Nobody can lock an account for its owner, who logs in
  from another address; a guesser slows down exponentially.
- Each client address has a budget of login and of registration attempts per window, whatever
  the accounts, so one address cannot spray guesses over many accounts or hash all day.
- Client addresses come from X-Forwarded-For with a trusted hop count, so that behind the mesh
  every caller is not the sidecar's 127.0.0.6."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from starlette.requests import Request

from gateway.errors import ApiError
from gateway.repositories import auth_throttle
from gateway.settings import GatewaySettings
from schemas.db import Queries


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


def _too_many(seconds: float, what: str) -> ApiError:
    wait = max(1, math.ceil(seconds))
    return ApiError(
        429,
        "too_many_attempts",
        f"{what}; try again in {wait} seconds",
        headers={"Retry-After": str(wait)},
    )


def account_prefix(account: str) -> str:
    """What every pair key of an account starts with (erasure removes them by it)."""
    return f"{account[:254]}|"


def _pair(account: str, address: str) -> str:
    return f"{account_prefix(account)}{address}"


class AuthThrottle:
    def __init__(self, settings: GatewaySettings) -> None:
        self._s = settings

    async def spend_login_budget(self, conn: Queries, address: str) -> None:
        await self._spend(conn, "login", address, self._s.login_budget_address)

    async def spend_register_budget(self, conn: Queries, address: str) -> None:
        await self._spend(conn, "register", address, self._s.register_budget_address)

    async def _spend(self, conn: Queries, scope: str, address: str, budget: int) -> None:
        window = self._s.login_window_s if scope == "login" else self._s.register_window_s
        used, remaining_s = await auth_throttle.spend(
            conn, scope=scope, key=address, window_s=window
        )
        if used > budget:
            raise _too_many(remaining_s, f"too many {scope} attempts from this address")

    async def check(self, conn: Queries, *, account: str, address: str) -> None:
        """Raise 429 while this (account, address) pair must wait after failures."""
        until = await auth_throttle.delayed_until(conn, _pair(account, address))
        if until is not None:
            seconds = (until - datetime.now(UTC)).total_seconds()
            raise _too_many(seconds, "too many failed logins")

    async def failed(self, conn: Queries, *, account: str, address: str) -> None:
        s = self._s
        await auth_throttle.record_failure(
            conn,
            _pair(account, address),
            window_s=s.login_window_s,
            free=s.login_free_failures,
            base_s=s.login_delay_base_s,
            cap_s=s.login_delay_cap_s,
        )

    async def succeeded(self, conn: Queries, *, account: str, address: str) -> None:
        await auth_throttle.clear(conn, _pair(account, address))
