"""Accounts: register, log in, read and erase oneself."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, status

from gateway import erasure
from gateway.deps import Accounts, AccountsDep, ConnectionsDep, CurrentUserId
from gateway.errors import ApiError
from gateway.metrics import LOGIN_FAILURES
from gateway.models import (
    LoginRequest,
    RegistrationAccepted,
    TokenResponse,
    UserCreate,
    UserPublic,
)
from gateway.repositories import sessions, users
from gateway.repositories.notifications import notify_user_changed
from gateway.routes import error_responses
from gateway.routes.erasures import ErasureAccepted, status_url
from gateway.routes.sessions import check_password, token_pair
from gateway.security.throttle import client_address
from oura_connection import forget_tokens

router = APIRouter(prefix="/api", tags=["accounts"])
log = logging.getLogger("gateway.accounts")


def _public(user: users.User) -> UserPublic:
    return UserPublic(
        id=user.id, email=user.email, username=user.username, created_at=user.created_at
    )


@router.post(
    "/register",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(400, 409, 413, 422, 429, 503),
)
async def register(
    body: UserCreate, request: Request, accounts: AccountsDep
) -> RegistrationAccepted:
    """Create an account. Passwords: at least 10 characters, not the username or email, not a
    common or breached password. The answer is the same whether or not the email was free, so
    it cannot be used to find out who has an account; only a taken username is said (usernames
    are chosen handles, and one cannot be picked without knowing it is free)."""
    address = client_address(request, accounts.settings.trusted_proxy_hops)
    await accounts.throttle.spend_register_budget(accounts.pool, address)
    await check_password(accounts, body.password, body.email, body.username)
    # Hashed whether or not the email is free: both answers take the same time.
    password_hash = await accounts.passwords.hash(body.password)
    try:
        user = await users.create_user(
            accounts.pool, email=body.email, username=body.username, password_hash=password_hash
        )
    except users.EmailTaken:
        log.info("registration for an email that has an account")
        return RegistrationAccepted()
    except users.UsernameTaken:
        raise ApiError(409, "username_taken", "this username is taken") from None
    log.info("account created", extra={"user_id": str(user.id)})
    return RegistrationAccepted()


@router.post("/login", responses=error_responses(400, 401, 413, 422, 429, 503))
async def login(body: LoginRequest, request: Request, accounts: AccountsDep) -> TokenResponse:
    """Exchange email (or username) and password for a short-lived bearer token and a
    single-use refresh token. Failed logins slow down the (account, address) pair that made
    them, not the account."""
    user = await verify_login(accounts, request, body.login, body.password)
    refresh_token = await sessions.start(
        accounts.pool,
        user_id=user.id,
        version=user.token_version,
        ttl_s=accounts.settings.refresh_ttl_s,
    )
    return token_pair(accounts, user.id, user.token_version, refresh_token)


async def verify_login(
    accounts: Accounts, request: Request, login: str, password: str
) -> users.User:
    """The account whose password this is, under the login throttles (shared by the API's
    login and the sign-in page); raises ApiError 401/429."""
    address = client_address(request, accounts.settings.trusted_proxy_hops)
    pool, throttle = accounts.pool, accounts.throttle
    await throttle.spend_login_budget(pool, address)
    user = await users.find_by_login(pool, login)
    # Email and username of one account share one count.
    account = str(user.id) if user is not None else login.lower()
    await throttle.check(pool, account=account, address=address)
    # One bcrypt verification whether or not the account exists (see Passwords.verify).
    valid = await accounts.passwords.verify(
        password, user.password_hash if user is not None else None
    )
    if user is None or not valid:
        await throttle.failed(pool, account=account, address=address)
        LOGIN_FAILURES.labels("unknown_account" if user is None else "wrong_password").inc()
        raise ApiError(401, "invalid_credentials", "wrong email/username or password")
    await throttle.succeeded(pool, account=account, address=address)
    return user


@router.get("/me", responses=error_responses(401))
async def read_me(user_id: CurrentUserId, accounts: AccountsDep) -> UserPublic:
    user = await users.get_user(accounts.pool, user_id)
    if user is None:
        raise ApiError(401, "invalid_token", "the access token's account no longer exists")
    return _public(user)


@router.delete("/me", status_code=status.HTTP_202_ACCEPTED, responses=error_responses(401, 503))
async def delete_me(
    user_id: CurrentUserId, accounts: AccountsDep, connections: ConnectionsDep
) -> ErasureAccepted:
    """Erase the account: revoke the Oura grant, then delete the user and every row of theirs
    (found from the database's catalog) and their throttle and OAuth-state rows, at once. What
    was copied to Kafka is erased next, in the background: a tombstone for each of the user's
    records, which compaction removes within 7 days (the tombstones a day later). The answer
    names the erasure's receipt, readable without logging in at `status_url`."""
    if connections.cipher is not None and not await forget_tokens(
        connections.pool, user_id, connections.oauth, connections.cipher
    ):
        # Erasing now would delete the only means of revoking a grant that is still alive.
        raise ApiError(
            503,
            "oura_revoke_pending",
            "Oura could not confirm revoking its access; nothing was erased, try again later",
            {"Retry-After": "60"},
        )
    async with accounts.pool.acquire() as conn, conn.transaction():
        erasure_id = await erasure.delete_account(conn, user_id)
        await notify_user_changed(conn, user_id)
    accounts.cache.invalidate(user_id)
    if erasure_id is None:
        raise ApiError(401, "invalid_token", "the access token's account no longer exists")
    if accounts.eraser is not None:
        accounts.eraser.start(erasure_id)
    log.info("account erased", extra={"user_id": str(user_id), "erasure_id": str(erasure_id)})
    return ErasureAccepted(id=erasure_id, status="in_progress", status_url=status_url(erasure_id))
