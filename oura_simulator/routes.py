"""The data API: `/v2/usercollection/<path>` for every registered type, plus `/{document_id}`
for the types that have ids. Envelope, paging, filters and errors as OURA_API_V2.md §2-3."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from oura_simulator import builders
from oura_simulator.data import Document, UserProfile
from oura_simulator.query import (
    ApiError,
    Bound,
    PageTokens,
    date_window,
    keep_filter,
    parse_bool,
    parse_bound,
    parse_datetime,
    validation_error,
)
from oura_simulator.state import Simulator
from schemas.data_types import DATA_TYPES, DataType, QueryKind

Handler = Callable[[Request], Awaitable[Response]]
# `fields` is ignored on these routes (OURA_API_V2.md §2.1).
_NO_FIELDS = frozenset({"daily_resilience", "enhanced_tag"})
_ALWAYS = ("id", "day", "timestamp")


class DataResponse(JSONResponse):
    """JSONResponse's bytes (compact, UTF-8, keys in insertion order) rendered by orjson: several
    times faster on pages of thousands of documents or sample floats."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authorize_request(
    sim: Simulator, request: Request, data_type: DataType
) -> tuple[UserProfile, frozenset[str]]:
    grant, reason = sim.authenticate(bearer_token(request))
    if grant is None:
        detail = {
            "missing": "Missing bearer token.",
            "invalid": "Invalid token.",
            "expired": "Token has expired.",
            "revoked": "Token has been revoked.",
        }[reason]
        raise ApiError(401, {"detail": detail}, {"WWW-Authenticate": "Bearer"})
    scopes = sim.effective_scopes(grant)
    # personal_info.id is readable with any token (OURA_API_V2.md §1.4); fields are masked.
    if data_type.query is not QueryKind.SINGLE and data_type.scope not in scopes:
        raise ApiError(
            403, {"detail": f"Access forbidden: the '{data_type.scope}' scope was not granted."}
        )
    return sim.user(grant.login), scopes


def data_router(sim: Simulator) -> APIRouter:
    router = APIRouter()
    tokens = PageTokens(sim.config.seed)
    for data_type in DATA_TYPES:
        path = f"/v2/usercollection/{data_type.path}"
        router.add_api_route(
            path, _list_handler(sim, tokens, data_type), methods=["GET"], name=data_type.name
        )
        if data_type.has_id and data_type.query in (QueryKind.DATE, QueryKind.NONE):
            router.add_api_route(
                path + "/{document_id}",
                _single_handler(sim, data_type),
                methods=["GET"],
                name=f"{data_type.name}_single",
            )
    return router


def _single_handler(sim: Simulator, data_type: DataType) -> Handler:
    async def handler(request: Request) -> Response:
        user, _ = authorize_request(sim, request, data_type)
        document_id = str(request.path_params["document_id"])
        document = sim.store.find(
            user, data_type.name, document_id, sim.clock.now(), sim.revision(user.login)
        )
        if document is None:
            raise ApiError(404, {"detail": "Document not found."})
        return DataResponse(document)

    return handler


def _list_handler(sim: Simulator, tokens: PageTokens, data_type: DataType) -> Handler:
    async def handler(request: Request) -> Response:
        user, scopes = authorize_request(sim, request, data_type)
        if data_type.query is QueryKind.SINGLE:
            return DataResponse(builders.personal_info(user, scopes))
        params = request.query_params
        raw_token = params.get("next_token")
        if raw_token:
            state = tokens.decode(raw_token, user_id=user.user_id, route=data_type.name)
        else:
            state = _initial_state(sim, user, data_type, params.get)
        size = (
            sim.config.heartrate_page_size
            if data_type.query is QueryKind.DATETIME
            else (sim.config.page_size)
        )
        offset = int(state["o"])
        page, total = _select_page(sim, user, data_type, state, offset, size)
        next_token = tokens.encode({**state, "o": offset + size}) if offset + size < total else None
        fields = state.get("f")
        if fields and data_type.name not in _NO_FIELDS:
            wanted = set(fields) | set(_ALWAYS)
            page = [{k: v for k, v in d.items() if k in wanted} for d in page]
        malformed = sim.faults.take_malformed(user.login)
        if malformed == "invalid_json":
            return Response('{"data": [{"id": ', media_type="application/json")
        if malformed == "missing_data":
            return DataResponse({"next_token": next_token, "items": page})
        return DataResponse({"data": page, "next_token": next_token})

    return handler


def _initial_state(
    sim: Simulator, user: UserProfile, data_type: DataType, get: Callable[[str], str | None]
) -> dict[str, Any]:
    """Validate the first page's parameters; the result travels inside every next_token."""
    fields_raw = get("fields")
    fields = [f.strip() for f in fields_raw.split(",") if f.strip()] if fields_raw else None
    state: dict[str, Any] = {"u": user.user_id, "r": data_type.name, "o": 0, "f": fields}
    now = sim.clock.now()
    if data_type.query is QueryKind.DATETIME:
        end = parse_datetime("end_datetime", get("end_datetime")) or now
        start = parse_datetime("start_datetime", get("start_datetime")) or end - timedelta(days=1)
        if start > end:
            raise validation_error(
                "start_datetime",
                "Start datetime must be before end datetime",
                get("start_datetime"),
            )
        state.update(s=start.isoformat(), e=end.isoformat(), l=parse_bool("latest", get("latest")))
    elif data_type.query is QueryKind.DATE:
        lenient = sim.config.quirks
        end_bound = parse_bound("end_date", get("end_date"), lenient=lenient) or Bound(
            sim.store.local_today(user, now)
        )
        start_bound = parse_bound("start_date", get("start_date"), lenient=lenient) or Bound(
            end_bound.day() - timedelta(days=1)
        )
        if start_bound.moment(user) > end_bound.moment(user):
            raise validation_error(
                "start_date", "Start date must be before end date", get("start_date")
            )
        state.update(s=start_bound.encode(), e=end_bound.encode())
    return state


def _select_page(
    sim: Simulator,
    user: UserProfile,
    data_type: DataType,
    state: dict[str, Any],
    offset: int,
    size: int,
) -> tuple[list[Document], int]:
    """One page of the query's ordered result, and the result's length. Heart rate builds only
    the page's rows; other collections select from memoised per-day documents."""
    if data_type.query is QueryKind.DATETIME:
        now = sim.clock.now()
        start = datetime.fromisoformat(state["s"])
        end = datetime.fromisoformat(state["e"])
        return sim.store.heartrate_slice(
            user, start, end, now, offset, size, latest=bool(state.get("l"))
        )
    documents = _select(sim, user, data_type, state)
    return documents[offset : offset + size], len(documents)


def _select(
    sim: Simulator, user: UserProfile, data_type: DataType, state: dict[str, Any]
) -> list[Document]:
    """The full, ordered result of a date (or undated) query; pages are slices of it."""
    now = sim.clock.now()
    if data_type.query is QueryKind.NONE:
        return builders.ring_configurations(sim.generator, user, now)
    start_bound = _bound(state["s"])
    end_bound = _bound(state["e"])
    quirks = sim.config.quirks
    low, high = date_window(start_bound, end_bound, quirks=quirks)
    day_field = data_type.day_field or "day"
    keep = keep_filter(data_type.name, day_field, start_bound, end_bound, user, quirks=quirks)
    documents = sim.store.for_days(user, data_type.name, low, high, now, sim.revision(user.login))
    return [d for d in documents if keep(d)]


def _bound(encoded: str) -> Bound:
    if len(encoded) == 10:
        return Bound(date.fromisoformat(encoded))
    return Bound(datetime.fromisoformat(encoded))
