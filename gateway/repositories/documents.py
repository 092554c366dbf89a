"""The per-data-type tables (`daily_sleep`, `sleep`, ..., `personal_info`), read-only here: the
stream processor writes them.

Rows leave PostgreSQL already serialized (`json_build_object(...)::text`): the gateway splices
them into a response without parsing a document and dumping it again, which is most of what a
list request would otherwise cost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from schemas.data_types import BY_NAME

# Typed columns of each table (migrations/versions/0001_initial.py); a test checks they match
# the database. Python types drive the response models.
TYPED_COLUMNS: dict[str, list[tuple[str, type]]] = {
    "daily_sleep": [("score", int)],
    "sleep": [
        ("period", int),
        ("sleep_type", str),
        ("bedtime_start", datetime),
        ("bedtime_end", datetime),
        ("time_in_bed", int),
        ("total_sleep_duration", int),
        ("deep_sleep_duration", int),
        ("light_sleep_duration", int),
        ("rem_sleep_duration", int),
        ("awake_time", int),
        ("efficiency", int),
        ("latency", int),
        ("average_hrv", float),
        ("average_heart_rate", float),
        ("lowest_heart_rate", int),
        ("average_breath", float),
        ("readiness_score", int),
        ("temperature_deviation", float),
    ],
    "daily_activity": [
        ("score", int),
        ("steps", int),
        ("active_calories", int),
        ("total_calories", int),
        ("equivalent_walking_distance", int),
        ("high_activity_time", int),
        ("medium_activity_time", int),
        ("low_activity_time", int),
        ("sedentary_time", int),
        ("resting_time", int),
        ("non_wear_time", int),
        ("inactivity_alerts", int),
        ("average_met_minutes", float),
    ],
    "daily_readiness": [
        ("score", int),
        ("temperature_deviation", float),
        ("temperature_trend_deviation", float),
    ],
    "heartrate": [
        ("sample_count", int),
        ("bpm_min", int),
        ("bpm_max", int),
        ("bpm_avg", float),
    ],
    "daily_spo2": [("spo2_average", float), ("breathing_disturbance_index", int)],
    "daily_stress": [("stress_high", int), ("recovery_high", int), ("day_summary", str)],
    "daily_resilience": [
        ("level", str),
        ("sleep_recovery", float),
        ("daytime_recovery", float),
        ("stress", float),
    ],
    "daily_cardiovascular_age": [("vascular_age", int), ("pulse_wave_velocity", float)],
    "vo2_max": [("vo2_max", float)],
    "workout": [
        ("activity", str),
        ("intensity", str),
        ("calories", float),
        ("distance", float),
        ("start_datetime", datetime),
        ("end_datetime", datetime),
    ],
    "session": [
        ("session_type", str),
        ("mood", str),
        ("start_datetime", datetime),
        ("end_datetime", datetime),
    ],
    "enhanced_tag": [("tag_type_code", str), ("start_time", datetime), ("end_time", datetime)],
    "sleep_time": [("recommendation", str), ("status", str)],
    "rest_mode_period": [("start_time", datetime), ("end_time", datetime), ("end_day", date)],
    "ring_configuration": [
        ("hardware_type", str),
        ("color", str),
        ("design", str),
        ("firmware_version", str),
        ("size", int),
        ("set_up_at", datetime),
    ],
    "personal_info": [
        ("age", int),
        ("weight", float),
        ("height", float),
        ("biological_sex", str),
    ],
}

assert set(TYPED_COLUMNS) == set(BY_NAME), "every data type needs its typed columns"


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
    conn: Any,
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
    conn: Any,
    *,
    data_type: str,
    user_id: UUID,
    start: date | None,
    end: date | None,
) -> AsyncIterator[Any]:
    """Every row of one type for a user (within [start, end] when given), streamed through a
    server-side cursor; `conn` must be inside a transaction."""
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
