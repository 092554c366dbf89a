"""Connecting Oura, bound to the browser that asks: the authorize step stores the SHA-256 of a
nonce it puts in that browser's connect cookie, and the PKCE verifier is derived from the same
nonce. The callback completes only for that browser and, when the browser is signed in, only
for the account it is signed in as. The API's authorize answer is a link to the gateway's
connect page, which makes the browser sign in as the same account before sending it to Oura."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

from gateway.backfill import start_backfill
from gateway.deps import Connections
from gateway.errors import ApiError
from gateway.repositories import oauth_states
from gateway.repositories.notifications import notify_user_changed
from gateway.security import browser
from gateway.security.oauth_state import (
    InvalidState,
    StateClaims,
    new_nonce,
    read_state,
    sign_state,
)
from oura_connection import InvalidGrant, OAuthError, TokenGrant, store_grant

log = logging.getLogger("gateway.oauth")

_STATE_PROBLEMS = {
    oauth_states.StateProblem.USED: (400, "state_used", "this OAuth state was already used"),
    oauth_states.StateProblem.EXPIRED: (400, "state_expired", "the OAuth state has expired"),
    oauth_states.StateProblem.UNKNOWN: (400, "invalid_state", "the OAuth state is not known"),
    oauth_states.StateProblem.OTHER_BROWSER: (
        403,
        "other_browser",
        "this connection was started in another browser: start connecting again here",
    ),
}


@dataclass(frozen=True, slots=True)
class Connected:
    user_id: UUID
    grant: TokenGrant
    backfill: Literal["scheduled", "started"]


def _secret(connections: Connections) -> str:
    return connections.settings.jwt_secret.get_secret_value()


async def start_connect(connections: Connections, user_id: UUID) -> tuple[str, str]:
    """(Oura's consent URL, the nonce for this browser's connect cookie)."""
    connections.require_cipher()
    settings = connections.settings
    connect_nonce = browser.new_secret()
    claims = StateClaims(
        nonce=new_nonce(),
        user_id=user_id,
        expires_at=datetime.now(UTC) + timedelta(seconds=settings.oauth_state_ttl_s),
    )
    await oauth_states.create_state(
        connections.pool,
        nonce=claims.nonce,
        user_id=user_id,
        expires_at=claims.expires_at,
        browser_hash=browser.browser_hash(connect_nonce),
    )
    challenge = None
    if settings.oura_pkce:
        verifier = browser.pkce_verifier(connect_nonce, secret=_secret(connections))
        challenge = browser.pkce_challenge(verifier)
    url = connections.oauth.authorization_url(
        sign_state(claims, secret=_secret(connections)), code_challenge=challenge
    )
    return url, connect_nonce


def connect_link(connections: Connections, user_id: UUID, page_url: str) -> str:
    """The link an API client hands to a browser: the connect page, for this account only."""
    settings = connections.settings
    value = browser.sign_connect_link(
        user_id, secret=_secret(connections), ttl_s=settings.oauth_state_ttl_s
    )
    return f"{page_url}?for={value}"


def read_connect_link(connections: Connections, value: str) -> UUID | None:
    try:
        return browser.read_connect_link(value, secret=_secret(connections))
    except browser.InvalidBrowserToken:
        return None


async def finish_connect(
    connections: Connections,
    *,
    state: str,
    code: str | None,
    error: str | None,
    connect_nonce: str | None,
    signed_in_as: UUID | None,
) -> Connected:
    """Verify the state against this browser, exchange the code (with the PKCE verifier) and
    store the grant. Raises ApiError saying what is wrong; nothing is linked then."""
    cipher = connections.require_cipher()
    try:
        claims = read_state(state, secret=_secret(connections))
    except InvalidState as exc:
        raise ApiError(400, exc.code, exc.detail) from None
    if not connect_nonce:
        raise ApiError(
            403,
            "other_browser",
            "this browser did not start connecting Oura: start from the connection page",
        )
    if signed_in_as is not None and signed_in_as != claims.user_id:
        raise ApiError(
            403, "other_account", "this connection was started by another account than yours"
        )
    problem = await oauth_states.consume_state(
        connections.pool,
        nonce=claims.nonce,
        user_id=claims.user_id,
        browser_hash=browser.browser_hash(connect_nonce),
    )
    if problem is not None:
        raise ApiError(*_STATE_PROBLEMS[problem])
    if error:
        raise ApiError(400, "oauth_denied", f"Oura did not grant access: {error[:100]}")
    if not code:
        raise ApiError(400, "missing_code", "query.code: the authorization code is missing")
    verifier = (
        browser.pkce_verifier(connect_nonce, secret=_secret(connections))
        if connections.settings.oura_pkce
        else None
    )
    try:
        grant = await connections.oauth.exchange_code(code, code_verifier=verifier)
    except InvalidGrant:
        raise ApiError(400, "invalid_code", "Oura rejected the authorization code") from None
    except OAuthError as exc:
        log.warning("oura code exchange failed", extra={"error": str(exc)})
        raise ApiError(502, "oura_unavailable", "Oura's token endpoint failed; try again") from None
    # What webhook events name; None leaves it to the collector's next run.
    oura_user_id = await connections.oauth.oura_user_id(grant.access_token)
    async with connections.pool.acquire() as conn, conn.transaction():
        await store_grant(conn, claims.user_id, grant, cipher, oura_user_id=oura_user_id)
        await notify_user_changed(conn, claims.user_id)
    connections.cache.invalidate(claims.user_id)
    backfill: Literal["scheduled", "started"] = "scheduled"
    if connections.settings.backfill_on_connect and await start_backfill(
        claims.user_id, connections.settings.backfill_days, connections.background
    ):
        backfill = "started"
    log.info("oura connected", extra={"user_id": str(claims.user_id), "backfill": backfill})
    return Connected(claims.user_id, grant, backfill)
