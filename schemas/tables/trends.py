"""The trend metrics, and the `daily_trends` table: one row per (user, metric, day), and all of
its SQL. The stream processor (stream_processor.trends) reads the stored trends and writes fresh
ones, the gateway lists and exports them (its response model `TrendPoint` is built from
COLUMNS)."""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple
from uuid import UUID

from schemas import data_types
from schemas.db import Connection, Queries, labelled

# Metrics: what a trend is computed of. Each is one SQL aggregate over a document table's rows
# of one user-day; the gateway's pages and the Grafana dashboards name them.

# The main sleep of a day: the longest period that was not deleted or rejected as rest.
_MAIN_SLEEP = (
    "(array_agg({col} ORDER BY time_in_bed DESC NULLS LAST, id) "
    "FILTER (WHERE {col} IS NOT NULL AND coalesce(sleep_type, '') NOT IN ('deleted', 'rest')))[1]"
)
_COUNTED_SLEEP = "coalesce(sleep_type, '') NOT IN ('deleted', 'rest')"


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    table: str
    aggregate: str
    """SQL aggregate over the table's rows of one user-day."""
    min_spread: float = 0.0
    """Spread below which a difference is noise (units of the metric); keeps z finite."""


def _day_value(table: str, **min_spreads: float) -> list[Metric]:
    """A column's value of the day in a table with a document a user-day (the largest, should a
    day ever have two)."""
    return [
        Metric(f"{table}.{column}", table, f"max({column})::float8", spread)
        for column, spread in min_spreads.items()
    ]


def _main_sleep(**min_spreads: float) -> list[Metric]:
    return [
        Metric(f"sleep.{column}", "sleep", f"{_MAIN_SLEEP.format(col=column)}::float8", spread)
        for column, spread in min_spreads.items()
    ]


def _counted_sleep(aggregate: str, column: str, min_spread: float) -> Metric:
    """Over every sleep period of the day that counts (not deleted, not rest)."""
    sql = f"({aggregate}({column}) FILTER (WHERE {_COUNTED_SLEEP}))::float8"
    return Metric(f"sleep.{column}", "sleep", sql, min_spread)


METRICS: tuple[Metric, ...] = (
    *_day_value("daily_sleep", score=1),
    *_day_value("daily_readiness", score=1, temperature_deviation=0.05),
    *_day_value("daily_activity", score=1, steps=100, active_calories=10),
    _counted_sleep("sum", "total_sleep_duration", 300),
    _counted_sleep("min", "lowest_heart_rate", 1),
    *_main_sleep(average_hrv=1, average_heart_rate=0.5, efficiency=1, average_breath=0.1),
    *_day_value("daily_spo2", spo2_average=0.2),
    *_day_value("daily_stress", stress_high=300, recovery_high=300),
    *_day_value("heartrate", bpm_avg=0.5),
    *_day_value("vo2_max", vo2_max=0.5),
    *_day_value("daily_cardiovascular_age", vascular_age=1),
)
METRICS_BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
assert all(m.table in data_types.BY_NAME for m in METRICS), "a metric reads a document table"


def metrics_of(table: str) -> list[Metric]:
    """The metrics computed from one document table."""
    return [m for m in METRICS if m.table == table]


@dataclass(frozen=True, slots=True)
class TrendColumn:
    name: str
    sql_type: str
    nullable: bool = True
    default: Any = ...
    """What a reader takes when the value is missing (`...`: it never is). `in_progress` came
    after the first API version, whose clients do not send or expect it."""

    @property
    def python_type(self) -> Any:
        """The type a read value has (asyncpg), `| None` when the column is nullable."""
        kind: Any = _PYTHON_TYPES[self.sql_type]
        return kind | None if self.nullable else kind


_PYTHON_TYPES: dict[str, type] = {
    "uuid": str,
    "text": str,
    "date": date,
    "double precision": float,
    "boolean": bool,
    "timestamptz": datetime,
}

KEY: tuple[TrendColumn, ...] = (
    TrendColumn("user_id", "uuid", nullable=False),
    TrendColumn("metric", "text", nullable=False),
    TrendColumn("day", "date", nullable=False),
)
FIELDS: tuple[TrendColumn, ...] = (
    TrendColumn("value", "double precision"),
    TrendColumn("mean_7d", "double precision"),
    TrendColumn("mean_28d", "double precision"),
    TrendColumn("baseline", "double precision"),
    TrendColumn("baseline_spread", "double precision"),
    TrendColumn("deviation", "double precision"),
    TrendColumn("direction", "text"),
    TrendColumn("flag", "boolean", nullable=False),
    TrendColumn("in_progress", "boolean", nullable=False, default=False),
)
"""What a trend says about its day; `in_progress`: the day had not ended when its data was
fetched, so the value is the day so far, never flagged, and not part of any mean or baseline."""
COMPUTED_AT = TrendColumn("computed_at", "timestamptz", nullable=False)

COLUMNS: tuple[TrendColumn, ...] = (*KEY, *FIELDS, COMPUTED_AT)
TREND_FIELDS: tuple[str, ...] = tuple(c.name for c in FIELDS)


class TrendRow(NamedTuple):
    """One stored and published trend (KEY then FIELDS; `computed_at` is the batch's). A named
    tuple, not a frozen dataclass: thousands are built per batch, and a frozen dataclass's
    __init__ costs several times more."""

    user_id: str
    metric: str
    day: date
    value: float | None
    mean_7d: float | None
    mean_28d: float | None
    baseline: float | None
    baseline_spread: float | None
    deviation: float | None
    direction: str
    flag: bool
    in_progress: bool = False

    def fields(self) -> tuple[Any, ...]:
        """The TREND_FIELDS values, in that order."""
        return self[3:]


assert TrendRow._fields == tuple(c.name for c in (*KEY, *FIELDS)), "TrendRow follows COLUMNS"


async def stored_trends(
    conn: Queries, windows: Iterable[tuple[str, str, date, date]]
) -> dict[tuple[str, str, date], tuple[Any, ...]]:
    """Stored trend fields for (user, metric, first day, last day) windows."""
    windows = list(windows)
    if not windows:
        return {}
    rows = await conn.fetch(
        f"SELECT t.user_id::text, t.metric, t.day, {', '.join('t.' + f for f in TREND_FIELDS)}\n"
        "FROM daily_trends t\n"
        "JOIN unnest($1::uuid[], $2::text[], $3::date[], $4::date[])"
        " AS w(user_id, metric, lo, hi)\n"
        "  ON t.user_id = w.user_id AND t.metric = w.metric AND t.day BETWEEN w.lo AND w.hi",
        [w[0] for w in windows],
        [w[1] for w in windows],
        [w[2] for w in windows],
        [w[3] for w in windows],
    )
    return {(r[0], r[1], r[2]): tuple(r[3:]) for r in rows}


_TREND_COLUMNS = tuple(c.name for c in COLUMNS)
# PostgreSQL type -> the array type a column travels as in the upsert
_WIRE = {
    "uuid": "uuid[]",
    "text": "text[]",
    "date": "date[]",
    "double precision": "float8[]",
    "boolean": "bool[]",
}


def _upsert_sql() -> str:
    rows = (*KEY, *FIELDS)
    params = ", ".join(f"${i}::{_WIRE[c.sql_type]}" for i, c in enumerate(rows, start=1))
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in (*TREND_FIELDS, "computed_at"))
    keys = ", ".join(c.name for c in KEY)
    return (
        f"INSERT INTO daily_trends AS t ({', '.join(_TREND_COLUMNS)})\n"
        f"SELECT u.*, ${len(rows) + 1}::timestamptz FROM unnest({params}) AS u\n"
        f"ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    )


_UPSERT_SQL = _upsert_sql()


async def write_trends(
    conn: Connection,
    rows: Sequence[TrendRow],
    stored: Container[tuple[str, str, date]],
    at: datetime,
) -> None:
    """Store fresh trend rows: the ones with no stored row by COPY, the others by upsert.

    `stored` holds the (user, metric, day) keys read under the users' locks (`lock_users`), and
    nothing else writes a locked user's trends, so a key missing from it is still missing: COPY
    cannot meet a duplicate. Most fresh rows are new (a new day of data), and COPY stores them
    for a fraction of what the upsert's per-row conflict check costs PostgreSQL."""
    new: list[tuple[Any, ...]] = []
    changed: list[TrendRow] = []
    for row in rows:
        if (row.user_id, row.metric, row.day) in stored:
            changed.append(row)
        else:
            new.append((*row, at))
    if new:
        await conn.copy_records_to_table("daily_trends", records=new, columns=_TREND_COLUMNS)
    await upsert_trends(conn, changed, at)


async def upsert_trends(conn: Queries, rows: Sequence[TrendRow], at: datetime) -> None:
    if not rows:
        return
    columns = list(zip(*rows, strict=True))  # TrendRow is a tuple: its columns, in order
    await conn.execute(
        _UPSERT_SQL,
        *columns,
        at,
    )


# What a trend point says: everything but its user and the time it was computed.
_COLUMNS = ", ".join(c.name for c in (*KEY[1:], *FIELDS))


async def list_trends(
    conn: Queries, *, user_id: UUID, metrics: list[str] | None, start: date, end: date, limit: int
) -> list[dict[str, Any]]:
    conn = labelled(conn, "list_trends")
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM daily_trends WHERE user_id = $1 AND day >= $2 AND day <= $3 "
        f"AND ($4::text[] IS NULL OR metric = ANY($4)) ORDER BY metric, day LIMIT $5",
        user_id,
        start,
        end,
        metrics,
        limit,
    )
    return [dict(r) for r in rows]


async def export_trends(
    conn: Connection, *, user_id: UUID, start: date | None, end: date | None
) -> Any:
    """Server-side cursor over a user's trends; `conn` must be inside a transaction."""
    conn = labelled(conn, "export_trends")
    return conn.cursor(
        f"SELECT {_COLUMNS} FROM daily_trends WHERE user_id = $1 "
        f"AND ($2::date IS NULL OR day >= $2) AND ($3::date IS NULL OR day <= $3) "
        f"ORDER BY metric, day",
        user_id,
        start,
        end,
        prefetch=500,
    )
