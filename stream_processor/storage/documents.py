"""The Oura document tables: typed-column extraction and batched, idempotent writes.

All SQL that writes a document table lives here. The idempotent upsert, one statement per table
per batch:

    INSERT … SELECT FROM unnest($1::text[], …)
    ON CONFLICT (user_id, id) DO UPDATE …
      WHERE stored.content_hash <> new.content_hash AND stored.fetched_at <= new.fetched_at
    RETURNING user_id, day

so a new document is inserted, a revised one (different hash, not older) replaces the stored
row, and an identical or older one is skipped without a write. RETURNING reports exactly the
rows that changed, which is what drives the trend recomputation. `write_documents`, what the
processor calls, leaves the same rows and reports the same changes, but stores the rows that
are not there yet by COPY (see there).

The typed columns and their extractors are declared in schemas.tables.documents. In the
upsert, values cross to PostgreSQL as arrays; dates and timestamps travel as ISO text and are
cast by PostgreSQL, which parses a whole array faster than Python would parse its items."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import cache
from operator import itemgetter
from typing import Any

import asyncpg
import orjson

from schemas.data_types import get
from schemas.tables.channels import USER_CHANGED_CHANNEL
from schemas.tables.documents import BPM_RANGE, COLUMNS, plausible_bpm

# PostgreSQL column type -> (array type the value travels as, cast applied in SQL)
_WIRE: dict[str, tuple[str, str]] = {
    "integer": ("int8[]", "integer"),
    "double precision": ("float8[]", "double precision"),
    "text": ("text[]", "text"),
    "timestamptz": ("text[]", "timestamptz"),
    "date": ("text[]", "date"),
}


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """One document ready to be written: identity, typed values and the canonical JSON, its
    plausibility notes (JSON, None when there are none) and whether its day was in progress."""

    user_id: str
    key: str
    day: str | None
    typed: tuple[Any, ...]
    document_json: str
    content_hash: bytes
    fetched_at: datetime
    quality: str | None = None
    in_progress: bool = False


def _heartrate_typed(document: dict[str, Any]) -> tuple[Any, ...]:
    """COLUMNS["heartrate"] in one pass over the day's rows instead of one pass per column."""
    rows = document.get("rows") or ()
    low, high = BPM_RANGE
    try:  # C speed when every row has a plausible numeric bpm, as nearly every day does
        bpm = list(map(_BPM, rows))
        if bpm and min(bpm) >= low and max(bpm) <= high:
            return (len(rows), int(min(bpm)), int(max(bpm)), float(round(sum(bpm) / len(bpm), 3)))
    except (KeyError, TypeError):
        pass
    bpm = plausible_bpm(rows)
    if not bpm:
        return (len(rows), None, None, None)
    return (len(rows), int(min(bpm)), int(max(bpm)), float(round(sum(bpm) / len(bpm), 3)))


_BPM = itemgetter("bpm")
# Types whose typed columns are cheaper to extract together (same values as COLUMNS gives).
_TYPED: dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]] = {"heartrate": _heartrate_typed}


def typed_values(data_type: str, document: dict[str, Any]) -> tuple[Any, ...]:
    """The values of COLUMNS[data_type] for a document, in column order."""
    together = _TYPED.get(data_type)
    if together is not None:
        return together(document)
    return tuple(column.extract(document) for column in COLUMNS[data_type])


def to_row(
    data_type: str,
    user_id: str,
    key: str,
    document: dict[str, Any],
    document_json: str,
    content_hash: bytes,
    fetched_at: datetime,
    notes: dict[str, str] | None = None,
) -> DocumentRow:
    """Extract the typed columns of a validated document; a column whose source field has a
    plausibility note stays null (the value is still in the document)."""
    day_field = get(data_type).day_field
    day = document.get(day_field) if day_field else None
    typed = typed_values(data_type, document)
    quality = None
    if notes:
        typed = tuple(
            None if _flagged(column.source, notes) else value
            for column, value in zip(COLUMNS[data_type], typed, strict=True)
        )
        quality = orjson.dumps(notes, option=orjson.OPT_SORT_KEYS).decode()
    in_progress = day_in_progress(data_type, document, day, fetched_at)
    return DocumentRow(
        user_id, key, day, typed, document_json, content_hash, fetched_at, quality, in_progress
    )


def _flagged(source: str | None, notes: dict[str, str]) -> bool:
    if source is None:
        return False
    return any(
        field == source or source.startswith(f"{field}.") or field.startswith(f"{source}.")
        for field in notes
    )


ACCUMULATING = frozenset({"daily_activity", "daily_stress", "heartrate"})
"""Types whose day fills up as it goes (steps, calories, stress minutes, heart-rate samples): a
document fetched before its day ended holds a part of the day. Sleep, readiness, SpO2 and the
other daily types describe a night or a measurement that is complete when it is published."""

_ZONED_FIELDS = ("timestamp", "end_datetime", "start_datetime", "end_time", "start_time")
_LAST_TO_END = timezone(timedelta(hours=-12))
"""Where a day ends last on Earth: a document that says nothing of its zone is taken to be
there, so a day is never judged over too early."""


def day_in_progress(
    data_type: str, document: dict[str, Any], day: str | None, fetched_at: datetime
) -> bool:
    """Whether the document's day had not ended for the user when it was fetched (its zone from
    the document's own timestamps; heart-rate days are UTC days)."""
    if data_type not in ACCUMULATING or day is None:
        return False
    try:
        next_day = date.fromisoformat(day) + timedelta(days=1)
    except ValueError:
        return False
    zone: tzinfo = UTC if data_type == "heartrate" else _zone_of(document)
    return fetched_at < datetime.combine(next_day, time(), zone)


def _zone_of(document: dict[str, Any]) -> tzinfo:
    for name in _ZONED_FIELDS:
        value = document.get(name)
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                continue
            if moment.tzinfo is not None:
                return moment.tzinfo
    return _LAST_TO_END


@cache
def row_columns(data_type: str) -> tuple[str, ...]:
    """The table's columns a DocumentRow fills, in the order of its values."""
    names = (c.name for c in COLUMNS[data_type])
    return (
        "user_id",
        "id",
        "day",
        *names,
        "document",
        "content_hash",
        "fetched_at",
        "quality",
        "in_progress",
    )


@cache
def upsert_sql(data_type: str) -> str:
    """The batched idempotent upsert of one table (see the module docstring)."""
    get(data_type)
    columns = COLUMNS[data_type]
    names = row_columns(data_type)
    wire = ["text[]", "text[]", "text[]"]
    wire += [_WIRE[c.sql_type][0] for c in columns]
    wire += ["text[]", "bytea[]", "timestamptz[]", "text[]", "bool[]"]
    casts = ["uuid", "text", "date", *(_WIRE[c.sql_type][1] for c in columns)]
    casts += [get(data_type).document_sql_type, "bytea", "timestamptz", "jsonb", "boolean"]
    params = ", ".join(f"${i}::{kind}" for i, kind in enumerate(wire, start=1))
    select = ", ".join(f"u.{n}::{cast}" for n, cast in zip(names, casts, strict=True))
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names[2:])
    return (
        f"INSERT INTO {data_type} AS stored ({', '.join(names)})\n"
        f"SELECT {select}\n"
        f"FROM unnest({params}) AS u({', '.join(names)})\n"
        f"ON CONFLICT (user_id, id) DO UPDATE SET {updates}, written_at = now()\n"
        "WHERE stored.content_hash <> EXCLUDED.content_hash\n"
        "  AND stored.fetched_at <= EXCLUDED.fetched_at\n"
        "RETURNING stored.user_id::text, stored.day"
    )


def _arguments(rows: Sequence[DocumentRow], width: int) -> list[Any]:
    typed_columns = list(zip(*(row.typed for row in rows), strict=True)) or [()] * width
    return [
        [r.user_id for r in rows],
        [r.key for r in rows],
        [r.day for r in rows],
        *typed_columns,
        [r.document_json for r in rows],
        [r.content_hash for r in rows],
        [r.fetched_at for r in rows],
        [r.quality for r in rows],
        [r.in_progress for r in rows],
    ]


def newest_per_key(rows: Iterable[DocumentRow]) -> list[DocumentRow]:
    """One row per (user, key): the newest fetched_at; on a tie the later one (offset order),
    exactly what applying them one by one would have left. ON CONFLICT may touch a row only
    once per statement, so this also makes the batch statement legal."""
    newest: dict[tuple[str, str], DocumentRow] = {}
    for row in rows:
        identity = (row.user_id, row.key)
        kept = newest.get(identity)
        if kept is None or row.fetched_at >= kept.fetched_at:
            newest[identity] = row
    return list(newest.values())


async def upsert_documents(
    conn: asyncpg.Connection, data_type: str, rows: Sequence[DocumentRow]
) -> list[tuple[str, str | None]]:
    """Write one batch of one type; returns (user_id, day) of every row inserted or changed."""
    changed: list[tuple[str, str | None]] = []
    for chunk in _statement_chunks(rows):
        args = _arguments(chunk, len(COLUMNS[data_type]))
        found = await conn.fetch(upsert_sql(data_type), *args)
        changed += [(r[0], r[1].isoformat() if r[1] is not None else None) for r in found]
    return changed


COPY_MIN_ROWS = 64
"""Below this many rows of one type (a daily collection's batches) the upsert alone is cheaper
than the probe, savepoint and COPY round trips."""


async def write_documents(
    conn: asyncpg.Connection, data_type: str, rows: Sequence[DocumentRow]
) -> list[tuple[str, str | None]]:
    """Write one batch of one type, with one row per (user, key) (`newest_per_key`); returns
    (user_id, day) of every row inserted or changed, like `upsert_documents`.

    Rows whose (user, key) is not stored yet, as in a backfill or a replay into an empty
    database, go in by COPY: measured on the benchmark's rows, the write runs ~15 % faster,
    the conflict checks of the upsert being most of a small row's cost. The others take the
    upsert. A row stored by a concurrent writer after the probe (a replay next to the workers)
    makes the COPY fail inside its savepoint, and then every row takes the upsert."""
    if len(rows) < COPY_MIN_ROWS:
        return await upsert_documents(conn, data_type, rows)
    stored = await _stored_keys(conn, data_type, rows)
    new: list[tuple[Any, ...]] = []
    changed: list[tuple[str, str | None]] = []
    upsert: list[DocumentRow] = []
    for row in rows:
        record = None if (row.user_id, row.key) in stored else copy_record(data_type, row)
        if record is None:
            upsert.append(row)
        else:
            new.append(record)
            changed.append((row.user_id, record[2].isoformat() if record[2] else None))
    if new:
        try:
            async with conn.transaction():
                await conn.copy_records_to_table(
                    data_type, records=new, columns=row_columns(data_type)
                )
        except asyncpg.UniqueViolationError:
            return await upsert_documents(conn, data_type, rows)
    return changed + await upsert_documents(conn, data_type, upsert)


async def _stored_keys(
    conn: asyncpg.Connection, data_type: str, rows: Sequence[DocumentRow]
) -> set[tuple[str, str]]:
    found = await conn.fetch(
        f"SELECT t.user_id::text, t.id FROM {data_type} t\n"
        "JOIN unnest($1::uuid[], $2::text[]) AS u(user_id, id)"
        " ON t.user_id = u.user_id AND t.id = u.id",
        [r.user_id for r in rows],
        [r.key for r in rows],
    )
    return {(r[0], r[1]) for r in found}


def copy_record(data_type: str, row: DocumentRow) -> tuple[Any, ...] | None:
    """The row as COPY's binary format takes it, or None when a value is one that only the
    upsert's casts should judge (a time without a zone, an integer beyond `integer`, text that
    is not a string...): that row is upserted, and PostgreSQL accepts or refuses it as always."""
    try:
        day = date.fromisoformat(row.day) if row.day is not None else None
        typed = tuple(
            value if value is None else binary(value)
            for value, binary in zip(row.typed, _binary(data_type), strict=True)
        )
    except (TypeError, ValueError):
        return None
    return (
        row.user_id,
        row.key,
        day,
        *typed,
        row.document_json,
        row.content_hash,
        row.fetched_at,
        row.quality,
        row.in_progress,
    )


def _as_int4(value: Any) -> int:
    if type(value) is not int or not -(2**31) <= value < 2**31:
        raise ValueError(value)
    return value


def _as_float(value: Any) -> float:
    if type(value) is not float:
        raise TypeError(value)
    return value


def _as_text(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(value)
    return value


def _as_timestamptz(value: Any) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:  # PostgreSQL reads it in the session's zone
        raise ValueError(value)
    return moment


_AS_BINARY: dict[str, Callable[[Any], Any]] = {
    "integer": _as_int4,
    "double precision": _as_float,
    "text": _as_text,
    "timestamptz": _as_timestamptz,
    "date": date.fromisoformat,
}


@cache
def _binary(data_type: str) -> tuple[Callable[[Any], Any], ...]:
    return tuple(_AS_BINARY[c.sql_type] for c in COLUMNS[data_type])


STATEMENT_BYTES = 3 * 1024 * 1024
"""Documents' JSON per upsert statement. Measured on 60k benchmark records, one transaction per
1,000 rows: heart-rate days (28 KB each) upserted at ~1,900 rows/s in 1,000-row statements and
~2,950 in 140-250-row ones; sleep (4 KB) at 8,400 in 1,000-row statements and 10,600 in 500-row
ones. PostgreSQL builds each array parameter whole before unnest reads it; tens of megabytes of
it cost more than the extra statements."""


def _statement_chunks(rows: Sequence[DocumentRow]) -> list[Sequence[DocumentRow]]:
    chunks: list[Sequence[DocumentRow]] = []
    start = size = 0
    for index, row in enumerate(rows):
        if size and size + len(row.document_json) > STATEMENT_BYTES:
            chunks.append(rows[start:index])
            start, size = index, 0
        size += len(row.document_json)
    if start < len(rows):
        chunks.append(rows[start:])
    return chunks


async def existing_users(conn: asyncpg.Connection, user_ids: Iterable[str]) -> set[str]:
    """Which of these users have an account (documents reference users.id)."""
    ids = sorted(set(user_ids))
    if not ids:
        return set()
    rows = await conn.fetch("SELECT id::text FROM users WHERE id = ANY($1::uuid[])", ids)
    return {r[0] for r in rows}


async def notify_users_changed(conn: asyncpg.Connection, user_ids: Iterable[str]) -> None:
    """NOTIFY each user's id on USER_CHANGED_CHANNEL. Inside a transaction PostgreSQL delivers
    the notifications at commit, and not at all on rollback: listeners hear only of data that
    is really there."""
    ids = sorted(set(user_ids))
    if ids:
        await conn.execute(
            f"SELECT pg_notify('{USER_CHANGED_CHANNEL}', u) FROM unnest($1::text[]) AS u", ids
        )


async def delete_documents(
    conn: asyncpg.Connection, data_type: str, keys: Sequence[tuple[str, str]]
) -> list[tuple[str, str | None]]:
    """Remove the (user id, document key) rows a tombstone deleted; returns (user, day) of each
    row that existed, for the trend recomputation."""
    if not keys:
        return []
    rows = await conn.fetch(
        f"DELETE FROM {data_type} AS d USING unnest($1::uuid[], $2::text[]) AS k(user_id, id)\n"
        "WHERE d.user_id = k.user_id AND d.id = k.id\n"
        "RETURNING d.user_id::text, d.day::text",
        [user for user, _ in keys],
        [key for _, key in keys],
    )
    return [(r[0], r[1]) for r in rows]
