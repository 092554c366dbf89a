"""Oura connection: authorize, callback, refresh, status and disconnect."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from collector.tokens import (
    InvalidGrant,
    NeedsReauth,
    NotConnected,
    OAuthError,
    connection_status,
    forget_tokens,
    refresh_now,
    store_grant,
)
from gateway.backfill import start_backfill
from gateway.deps import CurrentUserId, Services, ServicesDep
from gateway.errors import ApiError
from gateway.models import (
    AuthorizationUrl,
    ConnectionPublic,
    ConnectResult,
    DataTypeSync,
    Disconnected,
    RefreshResult,
)
from gateway.repositories import oauth_states
from gateway.repositories.notifications import notify_user_changed
from gateway.routes import error_responses
from gateway.security.oauth_state import (
    InvalidState,
    StateClaims,
    new_nonce,
    read_state,
    sign_state,
)

router = APIRouter(prefix="/api", tags=["oura connection"])
log = logging.getLogger("gateway.oauth")

_STATE_PROBLEMS = {
    oauth_states.StateProblem.USED: ("state_used", "this OAuth state was already used"),
    oauth_states.StateProblem.EXPIRED: ("state_expired", "the OAuth state has expired"),
    oauth_states.StateProblem.UNKNOWN: ("invalid_state", "the OAuth state is not known"),
}


def _wants_json(request: Request, format: str | None) -> bool:
    if format is not None:
        return format == "json"
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


@router.get(
    "/oauth/authorize",
    response_model=AuthorizationUrl,
    responses={
        302: {"description": "Redirect to Oura's consent page"},
        **error_responses(401, 422, 503),
    },
)
async def authorize(
    request: Request,
    user_id: CurrentUserId,
    services: ServicesDep,
    format: Annotated[
        Literal["json", "redirect"] | None,
        Query(description="json: answer {authorization_url}; default: by the Accept header"),
    ] = None,
) -> Response:
    """Start connecting Oura: a redirect to Oura's consent page (or its URL as JSON when the
    client asks for JSON). The `state` is signed, bound to this user, single-use and expires in
    10 minutes."""
    services.require_cipher()
    settings = services.settings
    claims = StateClaims(
        nonce=new_nonce(),
        user_id=user_id,
        expires_at=datetime.now(UTC) + timedelta(seconds=settings.oauth_state_ttl_s),
    )
    await oauth_states.create_state(
        services.pool, nonce=claims.nonce, user_id=user_id, expires_at=claims.expires_at
    )
    state = sign_state(claims, secret=settings.jwt_secret.get_secret_value())
    url = services.oauth.authorization_url(state)
    if _wants_json(request, format):
        return JSONResponse({"authorization_url": url}, headers={"Cache-Control": "no-store"})
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


async def _claim_state(services: Services, state: str) -> StateClaims:
    try:
        claims = read_state(state, secret=services.settings.jwt_secret.get_secret_value())
    except InvalidState as exc:
        raise ApiError(400, exc.code, exc.detail) from None
    problem = await oauth_states.consume_state(
        services.pool, nonce=claims.nonce, user_id=claims.user_id
    )
    if problem is not None:
        code, detail = _STATE_PROBLEMS[problem]
        raise ApiError(400, code, detail)
    return claims


@router.get(
    "/callback",
    response_model=ConnectResult,
    responses={
        302: {"description": "Redirect to GATEWAY_POST_CONNECT_REDIRECT when configured"},
        **error_responses(400, 422, 502, 503),
    },
)
async def callback(
    services: ServicesDep,
    state: Annotated[str | None, Query(max_length=1024)] = None,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """Where Oura sends the browser back: verify `state`, exchange the code, store the tokens
    encrypted, mark the connection active and start the first backfill."""
    cipher = services.require_cipher()
    if not state:
        raise ApiError(400, "missing_state", "query.state: the OAuth state is missing")
    claims = await _claim_state(services, state)
    if error:
        raise ApiError(400, "oauth_denied", f"Oura did not grant access: {error[:100]}")
    if not code:
        raise ApiError(400, "missing_code", "query.code: the authorization code is missing")
    try:
        grant = await services.oauth.exchange_code(code)
    except InvalidGrant:
        raise ApiError(400, "invalid_code", "Oura rejected the authorization code") from None
    except OAuthError as exc:
        log.warning("oura code exchange failed", extra={"error": str(exc)})
        raise ApiError(502, "oura_unavailable", "Oura's token endpoint failed; try again") from None
    async with services.pool.acquire() as conn, conn.transaction():
        await store_grant(conn, claims.user_id, grant, cipher)
        await notify_user_changed(conn, claims.user_id)
    services.cache.invalidate(claims.user_id)
    backfill: Literal["scheduled", "started"] = "scheduled"
    if services.settings.backfill_on_connect and await start_backfill(
        claims.user_id, services.settings.backfill_days, services.background
    ):
        backfill = "started"
    log.info("oura connected", extra={"user_id": str(claims.user_id), "backfill": backfill})
    if services.settings.post_connect_redirect:
        query = urlencode({"connected": "oura", "backfill": backfill})
        return RedirectResponse(f"{services.settings.post_connect_redirect}?{query}", 302)
    result = ConnectResult(status="active", scopes=grant.scopes, backfill=backfill)
    return JSONResponse(result.model_dump(mode="json"))


@router.post("/oauth/refresh", responses=error_responses(401, 404, 409, 502, 503))
async def refresh(user_id: CurrentUserId, services: ServicesDep) -> RefreshResult:
    """Refresh the Oura tokens now, under the same per-user lock the collector takes."""
    cipher = services.require_cipher()
    try:
        grant = await refresh_now(services.pool, user_id, services.oauth, cipher)
    except NotConnected:
        raise ApiError(404, "not_connected", "Oura is not connected") from None
    except NeedsReauth:
        raise ApiError(
            409, "needs_reauth", "Oura refused the refresh: connect again via /api/oauth/authorize"
        ) from None
    except OAuthError:
        raise ApiError(502, "oura_unavailable", "Oura's token endpoint failed; try again") from None
    return RefreshResult(status="active", expires_at=grant.expires_at, scopes=grant.scopes)


@router.get("/connection", responses=error_responses(401))
async def read_connection(user_id: CurrentUserId, services: ServicesDep) -> ConnectionPublic:
    """Connection status (`active`, `needs_reauth`, `revoked` or `none`), granted scopes and
    the last successful sync per data type."""
    current = await connection_status(services.pool, user_id)
    if current is None:
        return ConnectionPublic(status="none")
    return ConnectionPublic(
        status=current.status,  # type: ignore[arg-type]
        scopes=current.scopes,
        connected_at=current.connected_at,
        expires_at=current.expires_at,
        last_refreshed_at=current.last_refreshed_at,
        data_types={
            name: DataTypeSync(
                status=t.status,
                cursor_day=t.cursor_day,
                last_success_at=t.last_success_at,
                last_attempt_at=t.last_attempt_at,
                documents_total=t.documents_total,
            )
            for name, t in current.data_types.items()
        },
    )


@router.delete("/oauth/connection", responses=error_responses(401, 404, 503))
async def disconnect(user_id: CurrentUserId, services: ServicesDep) -> Disconnected:
    """Revoke the grant at Oura (refresh and access token) and forget the tokens. When Oura
    cannot confirm, the answer is `revoke_pending` and the collector retries. Collected data
    stays (DELETE /api/me erases it)."""
    cipher = services.require_cipher()
    if await connection_status(services.pool, user_id) is None:
        raise ApiError(404, "not_connected", "Oura is not connected")
    revoked = await forget_tokens(services.pool, user_id, services.oauth, cipher)
    await notify_user_changed(services.pool, user_id)
    services.cache.invalidate(user_id)
    # Not collected any more either way; a grant Oura did not confirm revoking stays
    # `revoke_pending` and the collector's next run revokes it.
    return Disconnected(status="disconnected" if revoked else "revoke_pending")
