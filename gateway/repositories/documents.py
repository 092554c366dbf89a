"""The per-data-type tables (`daily_sleep`, `sleep`, ..., `personal_info`), read-only here: the
stream processor writes them.

Rows leave PostgreSQL already serialized (`json_build_object(...)::text`): the gateway splices
them into a response without parsing a document and dumping it again, which is most of what a
list request would otherwise cost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from schemas.data_types import BY_NAME
from schemas.db import Connection, Queries, labelled
from schemas.tables.documents import COLUMNS

TYPED_COLUMNS: dict[str, list[tuple[str, type]]] = {
    table: [(c.name, c.python_type) for c in columns] for table, columns in COLUMNS.items()
}
"""Each table's typed columns (schemas.tables.documents) with the Python type its values read
back as, which drives the response models."""


def dated(data_type: str) -> bool:
    """Whether rows of this type have a day to filter on."""
    return BY_NAME[data_type].day_field is not None


def _row_json(data_type: str) -> str:
    fields = ["'id', id", "'day', day"]
    fields += [f"'{name}', {name}" for name, _ in TYPED_COLUMNS[data_type]]
    # Text documents (DataType.document_as_text) are embedded as JSON, not as a JSON string.
    document = "document::json" if BY_NAME[data_type].document_as_text else "document"
    fields += ["'in_progress', in_progress", "'quality', quality", f"'document', {document}"]
    return f"json_build_object({', '.join(fields)})::text"


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[str]
    """Each row as a JSON object (text)."""
    last_key: tuple[date | None, str] | None
    """(day, id) of the last row when more rows follow, for the next page's cursor."""


def _list_sql(data_type: str, *, after: bool) -> str:
    select = f"SELECT day, id, {_row_json(data_type)} AS row FROM {data_type} WHERE user_id = $1"
    if dated(data_type):
        keyset = " AND (day, id) > ($4, $5)" if after else ""
        limit = "$6" if after else "$4"
        return f"{select} AND day >= $2 AND day <= $3{keyset} ORDER BY day, id LIMIT {limit}"
    if after:
        return f"{select} AND id > $2 ORDER BY id LIMIT $3"
    return f"{select} ORDER BY id LIMIT $2"


_LIST_SQL = {(t, after): _list_sql(t, after=after) for t in BY_NAME for after in (False, True)}


async def list_documents(
    conn: Queries,
    *,
    data_type: str,
    user_id: UUID,
    start: date,
    end: date,
    after: tuple[date | None, str] | None,
    limit: int,
) -> Page:
    """One page of a user's rows of one type, in (day, id) order; for dated types only days in
    [start, end]."""
    conn = labelled(conn, "list_documents")
    sql = _LIST_SQL[(data_type, after is not None)]
    args: list[Any] = [user_id]
    if dated(data_type):
        args += [start, end]
        if after is not None:
            args += list(after)
    elif after is not None:
        args.append(after[1])
    rows = await conn.fetch(sql, *args, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    last = (rows[-1]["day"], rows[-1]["id"]) if more and rows else None
    return Page(rows=[r["row"] for r in rows], last_key=last)


async def export_rows(
    conn: Connection,
    *,
    data_type: str,
    user_id: UUID,
    start: date | None,
    end: date | None,
) -> AsyncIterator[Any]:
    """Every row of one type for a user (within [start, end] when given), streamed through a
    server-side cursor; `conn` must be inside a transaction."""
    conn = labelled(conn, "export_rows")
    columns = ", ".join(name for name, _ in TYPED_COLUMNS[data_type])
    sql = (
        f"SELECT id, day, fetched_at, {columns}, {_row_json(data_type)} AS row, "
        f"document::text AS document FROM {data_type} WHERE user_id = $1"
    )
    args: list[Any] = [user_id]
    if dated(data_type):
        sql += " AND ($2::date IS NULL OR day >= $2) AND ($3::date IS NULL OR day <= $3)"
        args += [start, end]
    async for row in conn.cursor(f"{sql} ORDER BY day, id", *args, prefetch=500):
        yield row
