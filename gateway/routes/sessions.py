"""Sessions: renew with a refresh token, log out everywhere, change the password.

Ending sessions bumps the account's token version (every access token issued before is refused
on its next request, on every replica: the version cache is dropped through NOTIFY) and revokes
every refresh token."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

from fastapi import APIRouter

from gateway.deps import Accounts, AccountsDep, CurrentUserId
from gateway.errors import ApiError
from gateway.models import PasswordChange, RefreshRequest, SessionsEnded, TokenResponse
from gateway.repositories import sessions, users
from gateway.repositories.notifications import notify_user_changed
from gateway.routes import error_responses
from gateway.security.access_tokens import create_access_token
from gateway.security.password_policy import password_problem

router = APIRouter(prefix="/api", tags=["accounts"])
log = logging.getLogger("gateway.sessions")


async def check_password(
    accounts: Accounts, password: str, email: str, username: str | None
) -> None:
    """422 for a common, breached or guessable password (checked in a thread: zxcvbn is CPU)."""
    inputs = [email, email.split("@")[0], *([username] if username else [])]
    problem = await asyncio.to_thread(
        password_problem,
        password,
        min_score=accounts.settings.password_min_score,
        user_inputs=inputs,
    )
    if problem is not None:
        raise ApiError(422, "weak_password", f"body.password: {problem}")


def token_pair(accounts: Accounts, user_id: UUID, version: int, refresh: str) -> TokenResponse:
    settings = accounts.settings
    access = create_access_token(
        user_id,
        secret=settings.jwt_secret.get_secret_value(),
        ttl_s=settings.jwt_ttl_s,
        version=version,
    )
    return TokenResponse(access_token=access, expires_in=settings.jwt_ttl_s, refresh_token=refresh)


async def end_sessions(accounts: Accounts, user_id: UUID, password_hash: str | None = None) -> None:
    async with accounts.pool.acquire() as conn, conn.transaction():
        if password_hash is not None:
            await users.set_password(conn, user_id, password_hash)
        await sessions.end_all(conn, user_id)
        await notify_user_changed(conn, user_id)
    accounts.cache.invalidate(user_id)


@router.post("/token/refresh", responses=error_responses(400, 401, 413, 422))
async def refresh_session(body: RefreshRequest, accounts: AccountsDep) -> TokenResponse:
    """Spend a refresh token for a new access token and the next refresh token. Each refresh
    token works once: presenting a spent one ends that login's sessions (a copy was stolen)."""
    async with accounts.pool.acquire() as conn:
        try:
            session = await sessions.rotate(
                conn, body.refresh_token, ttl_s=accounts.settings.refresh_ttl_s
            )
        except sessions.RefreshRejected:
            raise ApiError(
                401, "invalid_refresh_token", "the refresh token is not valid: log in again"
            ) from None
    return token_pair(accounts, session.user_id, session.token_version, session.refresh_token)


@router.post("/logout", responses=error_responses(401))
async def logout(user_id: CurrentUserId, accounts: AccountsDep) -> SessionsEnded:
    """End every session of the account: its access and refresh tokens stop working."""
    await end_sessions(accounts, user_id)
    log.info("signed out everywhere", extra={"user_id": str(user_id)})
    return SessionsEnded()


@router.post("/password", responses=error_responses(400, 401, 413, 422, 503))
async def change_password(
    body: PasswordChange, user_id: CurrentUserId, accounts: AccountsDep
) -> SessionsEnded:
    """Change the password; every session ends (log in again with the new one)."""
    user = await users.get_user(accounts.pool, user_id)
    if user is None or not await accounts.passwords.verify(
        body.current_password, user.password_hash
    ):
        raise ApiError(401, "invalid_credentials", "the current password is wrong")
    await check_password(accounts, body.new_password, user.email, user.username)
    password_hash = await accounts.passwords.hash(body.new_password)
    await end_sessions(accounts, user_id, password_hash)
    log.info("password changed", extra={"user_id": str(user_id)})
    return SessionsEnded()
