"""SQL of the trend computation: reading metric values per user-day from the document tables,
and the per-user locks. The `daily_trends` table's own SQL is in schemas.tables.trends.

Metric definitions (which table, which SQL aggregate per day) live here because they are SQL;
the arithmetic on them lives in `stream_processor.trends`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache

import asyncpg

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


METRICS: tuple[Metric, ...] = (
    Metric("daily_sleep.score", "daily_sleep", "max(score)::float8", 1),
    Metric("daily_readiness.score", "daily_readiness", "max(score)::float8", 1),
    Metric("daily_activity.score", "daily_activity", "max(score)::float8", 1),
    Metric("daily_activity.steps", "daily_activity", "max(steps)::float8", 100),
    Metric("daily_activity.active_calories", "daily_activity", "max(active_calories)::float8", 10),
    Metric(
        "daily_readiness.temperature_deviation",
        "daily_readiness",
        "max(temperature_deviation)",
        0.05,
    ),
    Metric(
        "sleep.total_sleep_duration",
        "sleep",
        f"(sum(total_sleep_duration) FILTER (WHERE {_COUNTED_SLEEP}))::float8",
        300,
    ),
    Metric("sleep.average_hrv", "sleep", _MAIN_SLEEP.format(col="average_hrv"), 1),
    Metric(
        "sleep.lowest_heart_rate",
        "sleep",
        f"(min(lowest_heart_rate) FILTER (WHERE {_COUNTED_SLEEP}))::float8",
        1,
    ),
    Metric("sleep.average_heart_rate", "sleep", _MAIN_SLEEP.format(col="average_heart_rate"), 0.5),
    Metric("sleep.efficiency", "sleep", _MAIN_SLEEP.format(col="efficiency") + "::float8", 1),
    Metric("sleep.average_breath", "sleep", _MAIN_SLEEP.format(col="average_breath"), 0.1),
    Metric("daily_spo2.spo2_average", "daily_spo2", "max(spo2_average)", 0.2),
    Metric("daily_stress.stress_high", "daily_stress", "max(stress_high)::float8", 300),
    Metric("daily_stress.recovery_high", "daily_stress", "max(recovery_high)::float8", 300),
    Metric("heartrate.bpm_avg", "heartrate", "max(bpm_avg)", 0.5),
    Metric("vo2_max.vo2_max", "vo2_max", "max(vo2_max)", 0.5),
    Metric(
        "daily_cardiovascular_age.vascular_age",
        "daily_cardiovascular_age",
        "max(vascular_age)::float8",
        1,
    ),
)
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}


def metrics_of(table: str) -> list[Metric]:
    return [m for m in METRICS if m.table == table]


@cache
def values_sql(table: str) -> str:
    """Per user, the series of every metric of `table` over a window of days per user: day
    numbers (days since 1970-01-01) and values of the complete days with a non-null value, in
    day order, then the same for the days still in progress when they were fetched
    (`in_progress`: they are kept apart, see stream_processor.trends).

    Arrays decode in asyncpg's C code: no Python work per user-day."""
    metrics = metrics_of(table)
    per_day = ", ".join(f"{m.aggregate} AS m{i}" for i, m in enumerate(metrics))
    arrays = ",\n  ".join(
        f"array_agg(day - DATE '1970-01-01' ORDER BY day) FILTER (WHERE m{i} IS NOT NULL{p}), "
        f"array_agg(m{i} ORDER BY day) FILTER (WHERE m{i} IS NOT NULL{p})"
        for i in range(len(metrics))
        for p in (" AND NOT partial", " AND partial")
    )
    return (
        f"WITH v AS (\n"
        f"  SELECT r.user_id, r.day, bool_or(r.in_progress) AS partial, {per_day}\n"
        f"  FROM {table} r\n"
        "  JOIN unnest($1::uuid[], $2::date[], $3::date[]) AS w(user_id, lo, hi)\n"
        "    ON r.user_id = w.user_id AND r.day BETWEEN w.lo AND w.hi\n"
        "  GROUP BY r.user_id, r.day\n"
        ")\n"
        f"SELECT user_id::text,\n  {arrays}\n"
        "FROM v GROUP BY user_id"
    )


Window = tuple[str, date, date]
"""(user_id, first day, last day)"""

Series = tuple[list[int], list[float]]
"""One metric of one user: day numbers (`date.toordinal() - EPOCH_ORDINAL`, ascending) and the
values of those days; days without a value are left out."""

Partial = dict[int, float]
"""The values of one metric of one user on days still in progress, by day number."""

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


async def metric_values(
    conn: asyncpg.Connection, table: str, windows: Sequence[Window]
) -> tuple[dict[tuple[str, str], Series], dict[tuple[str, str], Partial]]:
    """{(user, metric): series of complete days} and {(user, metric): values of days in
    progress} over each user's window, for the metrics of `table` that have a value on some
    day of it."""
    complete: dict[tuple[str, str], Series] = {}
    partial: dict[tuple[str, str], Partial] = {}
    if not windows:
        return complete, partial
    names = [m.name for m in metrics_of(table)]
    rows = await conn.fetch(
        values_sql(table),
        [w[0] for w in windows],
        [w[1] for w in windows],
        [w[2] for w in windows],
    )
    for row in rows:
        for index, name in enumerate(names):
            base = 1 + 4 * index
            numbers = row[base]
            if numbers is not None:
                complete[(row[0], name)] = (numbers, row[base + 1])
            if row[base + 2] is not None:
                partial[(row[0], name)] = dict(zip(row[base + 2], row[base + 3], strict=True))
    return complete, partial


async def lock_users(conn: asyncpg.Connection, user_ids: Iterable[str]) -> None:
    """Transaction-scoped advisory locks, in a fixed order so two writers cannot deadlock.

    Partitioning by user already gives each user one owner; the lock keeps that true while a
    rebalance hands a partition over or a replay runs next to the workers."""
    ids = sorted(set(user_ids))
    if ids:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(u, 42)) FROM unnest($1::text[]) AS u",
            ids,
        )
