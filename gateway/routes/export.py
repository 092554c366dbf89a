"""`GET /api/export`: everything of the caller's, streamed as JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from gateway.deps import CurrentUserId, ExportsDep
from gateway.errors import ApiError
from gateway.exports import ExportResponse, claim_export
from gateway.repositories import documents
from gateway.routes import error_responses
from gateway.routes.params import ApiDate
from schemas.data_types import BY_NAME
from schemas.db import Connection
from schemas.tables import trends as daily_trends

router = APIRouter(prefix="/api", tags=["export"])

TRENDS = "daily_trends"
EXPORTABLE = (*BY_NAME, TRENDS)
FLUSH_BYTES = 64 * 1024
CSV_HEADER = ("data_type", "id", "day", "fetched_at", "document")


def parse_types(types: str | None) -> list[str]:
    if not types:
        return list(EXPORTABLE)
    wanted = [t.strip() for t in types.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in EXPORTABLE]
    if unknown or not wanted:
        raise ApiError(
            422,
            "unknown_type",
            f"query.types: unknown type {unknown[0]!r} ; known: {', '.join(EXPORTABLE)}"
            if unknown
            else "query.types: name at least one type",
        )
    return list(dict.fromkeys(wanted))


async def _rows(
    conn: Connection, data_type: str, user_id: UUID, start: date | None, end: date | None
) -> AsyncIterator[tuple[str, str, str, str, str]]:
    """(data_type, id, day, fetched_at, JSON) for every exported row of one type."""
    if data_type == TRENDS:
        cursor = await daily_trends.export_trends(conn, user_id=user_id, start=start, end=end)
        async for r in cursor:
            row = dict(r)
            body = json.dumps(row, default=str, separators=(",", ":"))
            yield TRENDS, str(row["metric"]), str(row["day"]), "", body
        return
    async for r in documents.export_rows(
        conn, data_type=data_type, user_id=user_id, start=start, end=end
    ):
        day = r["day"].isoformat() if r["day"] else ""
        yield data_type, r["id"], day, r["fetched_at"].isoformat(), r["row"]


async def _stream(
    conn: Connection,
    user_id: UUID,
    types: list[str],
    start: date | None,
    end: date | None,
    fmt: str,
) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(CSV_HEADER)
    else:
        header = {
            "user_id": str(user_id),
            "exported_at": datetime.now(UTC).isoformat(),
            "start_date": start.isoformat() if start else None,
            "end_date": end.isoformat() if end else None,
        }
        buffer.write(json.dumps(header)[:-1] + ',"data":{')
    for position, data_type in enumerate(types):
        if fmt == "json":
            buffer.write(("," if position else "") + json.dumps(data_type) + ":[")
        first = True
        async for data_type_name, doc_id, day, fetched, body in _rows(
            conn, data_type, user_id, start, end
        ):
            if fmt == "csv":
                writer.writerow((data_type_name, doc_id, day, fetched, body))
            else:
                buffer.write(body if first else "," + body)
            first = False
            if buffer.tell() >= FLUSH_BYTES:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        if fmt == "json":
            buffer.write("]")
    if fmt == "json":
        buffer.write("}}")
    yield buffer.getvalue().encode()


@router.get(
    "/export",
    responses={
        200: {
            "description": "The export, streamed",
            "content": {"application/json": {}, "text/csv": {}},
        },
        **error_responses(401, 422, 429, 503),
    },
    response_class=StreamingResponse,
)
async def export(
    user_id: CurrentUserId,
    exports: ExportsDep,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
    types: Annotated[
        str | None,
        Query(max_length=1024, description="Comma-separated data types; default all + trends"),
    ] = None,
    start_date: Annotated[
        ApiDate | None, Query(description="First day (1970 to 2100); default: all")
    ] = None,
    end_date: Annotated[
        ApiDate | None, Query(description="Last day (1970 to 2100); default: all")
    ] = None,
) -> StreamingResponse:
    """Stream every row of the caller's data (one consistent snapshot): JSON
    `{"user_id", "exported_at", "data": {type: [rows]}}` or CSV
    `data_type,id,day,fetched_at,document`."""
    wanted = parse_types(types)
    if start_date and end_date and start_date > end_date:
        raise ApiError(422, "invalid_range", "query.start_date: must not be after end_date")
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    filename = f"myhealth-export-{datetime.now(UTC).date().isoformat()}.{format}"
    slot = await claim_export(
        exports.pool,
        user_id,
        acquire_timeout_s=exports.acquire_timeout_s,
    )
    return ExportResponse(
        slot,
        _stream(slot.conn, user_id, wanted, start_date, end_date, format),
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
