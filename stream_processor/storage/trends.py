"""SQL of the trend computation: reading metric values per user-day from the document tables,
and the per-user locks. The metrics (which table, which SQL aggregate per day) and the
`daily_trends` table's own SQL are in schemas.tables.trends; the arithmetic on them is in
`stream_processor.trends`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from functools import cache

import asyncpg

from schemas.tables.trends import metrics_of


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
