"""The connection page (per data type: last sync, failures, backfill progress), connecting and
disconnecting Oura, and the export downloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.deps import get_exports
from gateway.errors import ApiError
from gateway.oura_connect import read_connect_link, start_connect
from gateway.pages.render import (
    answers,
    checked_form,
    connections_of,
    current_session,
    message,
    page,
    redirect,
    signed_in,
)
from gateway.repositories import users
from gateway.routes.export import export
from gateway.routes.oauth import disconnect
from gateway.web_session import set_connect_cookie
from oura_connection import connection_status
from schemas.data_types import DATA_TYPES
from schemas.tables import collection_cursors as sync_progress

router = APIRouter(include_in_schema=False)


@router.get("/connection")
@answers
async def connection(request: Request) -> Response:
    session = await signed_in(request)
    connections = connections_of(request)
    user = await users.get_user(connections.pool, session.user_id)
    current = await connection_status(connections.pool, session.user_id)
    today = datetime.now(UTC).date()
    days = connections.settings.backfill_days
    first = today - timedelta(days=days)
    types = await sync_progress.type_progress(
        connections.pool, user_id=session.user_id, first=first, last=today
    )
    window = (today - first).days + 1
    if current is not None:
        types = _with_waiting(types, current.scopes)
    complete = bool(types) and all(
        t.covered_days >= window or t.status == "not_granted" for t in types
    )
    return page(
        request,
        "connection.html",
        session,
        email=user.email if user else "",
        connection=current,
        types=types,
        window=window,
        backfill_days=days,
        backfill_complete=complete,
        # While history is still arriving the page reloads itself (a meta refresh: no script).
        refresh=current is not None and current.status == "active" and not complete,
        just_connected=request.query_params.get("connected") == "oura",
    )


def _with_waiting(
    types: list[sync_progress.TypeProgress], scopes: list[str]
) -> list[sync_progress.TypeProgress]:
    """Every data type the grant allows (as the collector decides: all of them when Oura did
    not say), those not collected yet as `waiting`: the backfill is complete only when each has
    its history."""
    known = {t.data_type for t in types}
    waiting = [
        sync_progress.TypeProgress(t.name, "waiting", None, None, None, 0, 0)
        for t in DATA_TYPES
        if t.name not in known and (not scopes or t.scope in scopes)
    ]
    return sorted([*types, *waiting], key=lambda t: t.data_type)


@router.post("/connect")
@answers
async def connect(request: Request) -> Response:
    session = await signed_in(request)
    await checked_form(request, session)
    connections = connections_of(request)
    try:
        url, nonce = await start_connect(connections, session.user_id)
    except ApiError as exc:
        return message(request, session, "Cannot connect Oura", exc)
    response = redirect(url)
    set_connect_cookie(response, connections.settings, nonce)
    return response


@router.get("/connect/oura")
async def connect_link(request: Request) -> Response:
    """Where an API client's connect link leads: the browser signs in as the account that asked
    (or already is), then confirms; any other account is refused."""
    connections = connections_of(request)
    session = await current_session(request)
    link = request.query_params.get("for", "")
    wanted = read_connect_link(connections, link) if link else None
    if wanted is None:
        return page(
            request,
            "message.html",
            session,
            status_code=400,
            title="Link expired",
            message="This connect link is not valid any more. Ask for a new one, or connect "
            "from your connection page.",
        )
    if session is None:
        return page(request, "signin.html", None, link=link, for_connect=True)
    if session.user_id != wanted:
        return page(
            request,
            "message.html",
            session,
            status_code=403,
            title="Another account",
            message="This connect link was made for another account than the one signed in "
            "here. Nothing was connected.",
        )
    return page(request, "connect.html", session)


@router.post("/disconnect")
@answers
async def disconnect_page(request: Request) -> Response:
    session = await signed_in(request)
    await checked_form(request, session)
    try:
        await disconnect(session.user_id, connections_of(request))
    except ApiError as exc:
        return message(request, session, "Cannot disconnect", exc)
    return redirect("/connection")


@router.get("/export.{fmt}")
@answers
async def download(request: Request, fmt: Literal["csv", "json"]) -> Response:
    session = await signed_in(request)
    try:
        return await export(
            session.user_id,
            await get_exports(request),
            format=fmt,
            types=None,
            start_date=None,
            end_date=None,
        )
    except ApiError as exc:
        return message(request, session, "Export not available", exc)
