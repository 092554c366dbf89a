"""Oura connection: authorize, callback, refresh, status and disconnect."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode, urljoin

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from gateway.deps import AccountsDep, ConnectionsDep, CurrentUserId
from gateway.errors import ApiError
from gateway.models import (
    AuthorizationUrl,
    ConnectionPublic,
    ConnectResult,
    DataTypeSync,
    Disconnected,
    RefreshResult,
)
from gateway.oura_connect import connect_link, finish_connect
from gateway.repositories.notifications import notify_user_changed
from gateway.routes import error_responses
from gateway.web_session import CONNECT_COOKIE, clear_connect_cookie, session_of
from oura_connection import (
    NeedsReauth,
    NotConnected,
    OAuthError,
    connection_status,
    forget_tokens,
    refresh_now,
)

router = APIRouter(prefix="/api", tags=["oura connection"])

# The page an API client's connect link opens (gateway/pages/connect.py).
CONNECT_PAGE = "/connect/oura"


def _wants_json(request: Request, format: str | None) -> bool:
    if format is not None:
        return format == "json"
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


@router.get(
    "/oauth/authorize",
    response_model=AuthorizationUrl,
    responses={
        302: {"description": "Redirect to the gateway's connect page"},
        **error_responses(401, 422, 503),
    },
)
async def authorize(
    request: Request,
    user_id: CurrentUserId,
    connections: ConnectionsDep,
    format: Annotated[
        Literal["json", "redirect"] | None,
        Query(description="json: answer {authorization_url}; default: by the Accept header"),
    ] = None,
) -> Response:
    """Start connecting Oura: a link (or a redirect) to the gateway's connect page, to open in
    a browser. That page has the browser sign in as this same account, then sends it to Oura's
    consent; the callback completes only in that browser. The link expires in 10 minutes."""
    connections.require_cipher()
    page = urljoin(connections.settings.oura_redirect_uri, CONNECT_PAGE)
    url = connect_link(connections, user_id, page)
    if _wants_json(request, format):
        return JSONResponse({"authorization_url": url}, headers={"Cache-Control": "no-store"})
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


@router.get(
    "/callback",
    response_model=ConnectResult,
    responses={
        302: {"description": "Redirect to GATEWAY_POST_CONNECT_REDIRECT when configured"},
        303: {"description": "Redirect to the connection page when a browser asks for HTML"},
        **error_responses(400, 403, 422, 502, 503),
    },
)
async def callback(
    request: Request,
    connections: ConnectionsDep,
    accounts: AccountsDep,
    state: Annotated[str | None, Query(max_length=1024)] = None,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """Where Oura sends the browser back: verify `state` against this browser's connect cookie
    (and its signed-in account), exchange the code with the PKCE verifier, store the tokens
    encrypted, mark the connection active and start the first backfill."""
    connections.require_cipher()
    if not state:
        raise ApiError(400, "missing_state", "query.state: the OAuth state is missing")
    session = await session_of(request, accounts)
    connected = await finish_connect(
        connections,
        state=state,
        code=code,
        error=error,
        connect_nonce=request.cookies.get(CONNECT_COOKIE),
        signed_in_as=session.user_id if session is not None else None,
    )
    response: Response
    if connections.settings.post_connect_redirect:
        query = urlencode({"connected": "oura", "backfill": connected.backfill})
        response = RedirectResponse(f"{connections.settings.post_connect_redirect}?{query}", 302)
    elif "text/html" in request.headers.get("accept", ""):
        response = RedirectResponse("/connection?connected=oura", 303)
    else:
        result = ConnectResult(
            status="active", scopes=connected.grant.scopes, backfill=connected.backfill
        )
        response = JSONResponse(result.model_dump(mode="json"))
    clear_connect_cookie(response, connections.settings)
    return response


@router.post("/oauth/refresh", responses=error_responses(401, 404, 409, 502, 503))
async def refresh(user_id: CurrentUserId, connections: ConnectionsDep) -> RefreshResult:
    """Refresh the Oura tokens now, under the same per-user lock the collector takes."""
    cipher = connections.require_cipher()
    try:
        grant = await refresh_now(connections.pool, user_id, connections.oauth, cipher)
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
async def read_connection(user_id: CurrentUserId, connections: ConnectionsDep) -> ConnectionPublic:
    """Connection status (`active`, `needs_reauth`, `revoked` or `none`), granted scopes and
    the last successful sync per data type."""
    current = await connection_status(connections.pool, user_id)
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
async def disconnect(user_id: CurrentUserId, connections: ConnectionsDep) -> Disconnected:
    """Revoke the grant at Oura (refresh and access token) and forget the tokens. When Oura
    cannot confirm, the answer is `revoke_pending` and the collector retries. Collected data
    stays (DELETE /api/me erases it)."""
    cipher = connections.require_cipher()
    if await connection_status(connections.pool, user_id) is None:
        raise ApiError(404, "not_connected", "Oura is not connected")
    revoked = await forget_tokens(connections.pool, user_id, connections.oauth, cipher)
    await notify_user_changed(connections.pool, user_id)
    connections.cache.invalidate(user_id)
    # Not collected any more either way; a grant Oura did not confirm revoking stays
    # `revoke_pending` and the collector's next run revokes it.
    return Disconnected(status="disconnected" if revoked else "revoke_pending")
