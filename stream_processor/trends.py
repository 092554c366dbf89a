"""Daily trends: for the user-days a batch changed, recompute each affected metric's trend.

Per metric and day (definitions in `storage.trends.METRICS`):
  value      the day's value (e.g. the main sleep's average HRV)
  mean_7d    mean of the non-null values of the 7 days ending on the day
  mean_28d   the same over 28 days
  baseline   median of the non-null values of the 60 days *before* the day (at least 14 of them)
  spread     1.4826 x median absolute deviation of those values (a robust standard deviation)
  deviation  (value - baseline) / max(spread, the metric's noise floor): a robust z-score
  direction  mean_7d against the baseline: "up" / "down" beyond half a spread, else "flat"
  flag       |deviation| ≥ 2.5: worth calling out

Windows trail the day, so a change on day D can alter the trends of D … D+60 and nothing
earlier: that is the range recomputed. A trend row is written and published only when one of
its fields differs from what is stored, so a duplicate or replayed record emits nothing.

Runs inside the batch's transaction, under per-user advisory locks: the trends always reflect
exactly the committed documents, and two writers never interleave on one user."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from stream_processor.storage import trends as sql
from stream_processor.storage.trends import BY_NAME, METRICS, TrendRow

BASELINE_DAYS = 60
MIN_BASELINE_VALUES = 14
FLAG_Z = 2.5
DIRECTION_Z = 0.5
_MAD_TO_SIGMA = 1.4826
_DIGITS = 6
_TRENDING_TABLES = frozenset(m.table for m in METRICS)

ChangedDay = tuple[str, str, str]
"""(user_id, data_type, day as YYYY-MM-DD)"""


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, _DIGITS)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _direction(short_z: float) -> str:
    if short_z >= DIRECTION_Z:
        return "up"
    return "down" if short_z <= -DIRECTION_Z else "flat"


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _dense(values: dict[date, float | None], first: date, last: date) -> list[float | None]:
    """Values by day offset from `first` (None where a day has none): windows become slices."""
    dense: list[float | None] = [None] * ((last - first).days + 1)
    for day, value in values.items():
        index = (day - first).days
        if 0 <= index < len(dense):
            dense[index] = value
    return dense


def compute_trend(
    user_id: str, metric: str, day: date, values: dict[date, float | None]
) -> TrendRow:
    """The trend of one metric on one day, from the user's values of the days around it."""
    first = day - timedelta(days=BASELINE_DAYS)
    return _trend_at(user_id, metric, day, _dense(values, first, day), BASELINE_DAYS)


def _trend_at(
    user_id: str, metric: str, day: date, dense: list[float | None], index: int
) -> TrendRow:
    def window(back: int, until: int) -> list[float]:
        return [v for v in dense[max(0, index - back) : index + 1 - until] if v is not None]

    value = dense[index]
    mean_7d = _mean(window(6, 0))
    mean_28d = _mean(window(27, 0))
    history = window(BASELINE_DAYS, 1)
    baseline = spread = deviation = None
    direction, flag = "flat", False
    if len(history) >= MIN_BASELINE_VALUES:
        baseline = _median(history)
        spread = _MAD_TO_SIGMA * _median([abs(v - baseline) for v in history])
        scale = max(spread, BY_NAME[metric].min_spread)
        if value is not None and scale > 0:
            deviation = (value - baseline) / scale
            flag = abs(deviation) >= FLAG_Z
        if mean_7d is not None and scale > 0:
            direction = _direction((mean_7d - baseline) / scale)
    return TrendRow(
        user_id=user_id,
        metric=metric,
        day=day,
        value=_round(value),
        mean_7d=_round(mean_7d),
        mean_28d=_round(mean_28d),
        baseline=_round(baseline),
        baseline_spread=_round(spread),
        deviation=_round(deviation),
        direction=direction,
        flag=flag,
    )


def _ranges(changed: Iterable[ChangedDay]) -> dict[tuple[str, str], tuple[date, date]]:
    """(user, table) -> (first changed day, last changed day)."""
    ranges: dict[tuple[str, str], tuple[date, date]] = {}
    for user_id, table, day in changed:
        if table not in _TRENDING_TABLES or not day:
            continue
        moment = date.fromisoformat(day)
        lo, hi = ranges.get((user_id, table), (moment, moment))
        ranges[(user_id, table)] = (min(lo, moment), max(hi, moment))
    return ranges


async def recompute(conn: asyncpg.Connection, changed: Iterable[ChangedDay]) -> list[TrendRow]:
    """Recompute, store and return the trend rows that changed because these user-days did."""
    ranges = _ranges(changed)
    if not ranges:
        return []
    await sql.lock_users(conn, (user for user, _ in ranges))
    by_table: dict[str, list[sql.Window]] = defaultdict(list)
    for (user_id, table), (lo, hi) in ranges.items():
        by_table[table].append(
            (user_id, lo - timedelta(days=BASELINE_DAYS), hi + timedelta(BASELINE_DAYS))
        )
    values: dict[tuple[str, str], dict[date, float | None]] = {}
    for table, windows in by_table.items():
        values.update(await sql.metric_values(conn, table, windows))
    targets = [
        (user_id, metric.name, lo, hi + timedelta(days=BASELINE_DAYS))
        for (user_id, table), (lo, hi) in ranges.items()
        for metric in sql.metrics_of(table)
    ]
    stored = await sql.stored_trends(conn, targets)
    fresh = [
        row
        for row in _candidates(targets, values, stored)
        if stored.get((row.user_id, row.metric, row.day)) != row.fields()
    ]
    await sql.upsert_trends(conn, fresh, datetime.now(UTC))
    return fresh


def _candidates(
    targets: Sequence[tuple[str, str, date, date]],
    values: dict[tuple[str, str], dict[date, float | None]],
    stored: dict[tuple[str, str, date], tuple[Any, ...]],
) -> Iterable[TrendRow]:
    stored_days: dict[tuple[str, str], set[date]] = defaultdict(set)
    for user_id, metric, day in stored:
        stored_days[(user_id, metric)].add(day)
    for user_id, metric, lo, hi in targets:
        series = values.get((user_id, metric), {})
        days = {d for d, v in series.items() if v is not None and lo <= d <= hi}
        days |= stored_days.get((user_id, metric), set())
        first = lo - timedelta(days=BASELINE_DAYS)
        dense = _dense(series, first, hi)
        for day in sorted(days):
            yield _trend_at(user_id, metric, day, dense, (day - first).days)


def to_event(row: TrendRow, computed_at: datetime) -> dict[str, Any]:
    """The Avro datum of `oura.trends.daily` (schemas/avro/trend.avsc)."""
    return {
        "user_id": row.user_id,
        "day": row.day.isoformat(),
        "metric": row.metric,
        "value": row.value,
        "mean_7d": row.mean_7d,
        "mean_28d": row.mean_28d,
        "baseline": row.baseline,
        "baseline_spread": row.baseline_spread,
        "deviation": row.deviation,
        "direction": row.direction,
        "flag": row.flag,
        "computed_at": computed_at,
    }
