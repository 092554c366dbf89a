"""The `daily_trends` table: one row per (user, metric, day), written by the stream processor
(stream_processor.storage.trends) and read by the gateway (gateway.repositories.daily_trends,
whose response model `TrendPoint` is built from COLUMNS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple


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
