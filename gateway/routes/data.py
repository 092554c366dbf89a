"""One list route per collected Oura data type, e.g. `GET /api/sleep?start_date=&end_date=`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, create_model

from gateway.deps import CurrentUserId, ReadsDep
from gateway.models import page_example, with_example
from gateway.repositories import documents
from gateway.routes import error_responses
from gateway.routes.params import PaginationDep, WindowDep, encode_cursor
from schemas.data_types import DATA_TYPES

router = APIRouter(prefix="/api", tags=["data"])

# Route path → (data type, summary), from the data type registry.
ROUTES: dict[str, tuple[str, str]] = {t.api[0]: (t.name, t.api[1]) for t in DATA_TYPES}

_EXAMPLE_VALUES: dict[type, Any] = {int: 80, float: 1.5, str: "example", date: "2026-11-26"}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def page_model(data_type: str) -> type[BaseModel]:
    fields: dict[str, Any] = {"id": (str, ...), "day": (date | None, ...)}
    example_columns: dict[str, Any] = {}
    for name, kind in documents.TYPED_COLUMNS[data_type]:
        fields[name] = (kind | None, None)
        example_columns[name] = _EXAMPLE_VALUES.get(kind, "2026-11-26T07:00:00+00:00")
    fields["in_progress"] = (bool, False)
    fields["quality"] = (dict[str, str] | None, None)
    fields["document"] = (dict[str, Any], ...)
    row = create_model(f"{_camel(data_type)}Row", **fields)
    return create_model(
        f"{_camel(data_type)}Page",
        __config__=with_example(page_example(data_type, example_columns)),
        data=(list[row], ...),  # type: ignore[valid-type]
        next_token=(str | None, None),
    )


def render_page(page: documents.Page) -> bytes:
    token = encode_cursor(page.last_key) if page.last_key is not None else None
    return b"".join(
        (
            b'{"data":[',
            ",".join(page.rows).encode(),
            b'],"next_token":',
            json.dumps(token).encode(),
            b"}",
        )
    )


def _handler(data_type: str) -> Callable[..., Awaitable[Response]]:
    async def list_rows(
        user_id: CurrentUserId,
        reads: ReadsDep,
        window: WindowDep,
        paging: PaginationDep,
    ) -> Response:
        page = await documents.list_documents(
            reads.pool,
            data_type=data_type,
            user_id=user_id,
            start=window.start,
            end=window.end,
            after=paging.after,
            limit=paging.limit,
        )
        return Response(render_page(page), media_type="application/json")

    return list_rows


for _path, (_data_type, _summary) in ROUTES.items():
    router.add_api_route(
        f"/{_path}",
        _handler(_data_type),
        methods=["GET"],
        response_model=page_model(_data_type),
        responses=error_responses(401, 422),
        summary=_summary,
        name=f"list_{_data_type}",
        description=(
            f"The caller's `{_data_type}` rows in (day, id) order: `start_date`/`end_date` "
            "(default the last 30 days, at most GATEWAY_MAX_RANGE_DAYS), `limit` rows per page, "
            "`next_token` for the next page."
        ),
    )
