"""Daily trends: for the user-days a batch changed, recompute each affected metric's trend.

Per metric and day (definitions in `schemas.tables.trends.METRICS`):
  value      the day's value (e.g. the main sleep's average HRV)
  mean_7d    mean of the non-null values of the 7 days ending on the day
  mean_28d   the same over 28 days
  baseline   median of the non-null values of the 60 days *before* the day (at least 14 of them)
  spread     1.4826 x median absolute deviation of those values (a robust standard deviation)
  deviation  (value - baseline) / max(spread, the metric's noise floor): a robust z-score
  direction  mean_7d against the baseline: "up" / "down" beyond half a spread, else "flat"
  flag       |deviation| ≥ 2.5: worth calling out

Days in progress: a document fetched before its day ended for the user (`in_progress`, see
storage.documents.day_in_progress) holds part of a day. Such a day gets its trend row with its
value and deviation so far and `in_progress` set, but is never flagged, and its value is left
out of every mean and baseline (its own and other days'): a morning's 52 steps are not an
anomaly and must not pull the baseline down. When the day is collected again after it ended,
its value counts like any other.

Windows trail the day, so a change on day D can alter the trends of D … D+60 and nothing
earlier: that is the range recomputed. A trend row is written and published only when one of
its fields differs from what is stored, so a duplicate or replayed record emits nothing.

The days of one (user, metric) series are computed in one pass (`_series_trends`) that gives
exactly what the per-day definition above gives, float for float after the 6-digit rounding;
tests/stream_processor/test_trend_math.py keeps the straightforward implementation to compare.

Runs inside the batch's transaction, under per-user advisory locks (`lock_users`, taken by the
caller before `recompute`): the trends always reflect exactly the committed documents, and two
writers never interleave on one user."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from math import isfinite
from typing import Any

import asyncpg

from schemas.tables import trends as daily_trends
from schemas.tables.trends import METRICS, METRICS_BY_NAME, TrendRow, metrics_of
from stream_processor.storage import trends as sql
from stream_processor.storage.trends import EPOCH_ORDINAL, Partial, Series

BASELINE_DAYS = 60
MIN_BASELINE_VALUES = 14
FLAG_Z = 2.5
DIRECTION_Z = 0.5
_MAD_TO_SIGMA = 1.4826
_DIGITS = 6
_RESORT_AFTER = 16
"""Values entering plus leaving the history between two days beyond which re-sorting is cheaper."""
_EMPTY: Series = ([], [])
_TRENDING_TABLES = frozenset(m.table for m in METRICS)

ChangedDay = tuple[str, str, str]
"""(user_id, data_type, day as YYYY-MM-DD)"""


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


def _deviation_median(ordered: list[float], center: float) -> float:
    """`_median([abs(v - center) for v in ordered])` of a sorted list, without sorting.

    Along a sorted list those deviations fall, then rise (float subtraction is monotonic), so
    the k + 1 smallest fill a window `ordered[start : start + k + 1]`, and the k-th smallest
    (0-based) is the least, over windows, of a window's larger end deviation. As a window
    slides right its left end's deviation shrinks and its right end's grows: bisection finds
    the first window whose left end is no farther than its right end (`first`), and the best
    window is that one or the one before. For k + 1, that first window is the same one or the
    one before: a single comparison."""
    size = len(ordered)
    k = (size - 1) // 2
    first, hi = 0, size - k
    while first < hi:
        mid = (first + hi) // 2
        if center - ordered[mid] > ordered[mid + k] - center:
            first = mid + 1
        else:
            hi = mid
    lower = _kth_deviation(ordered, center, k, first)
    if size % 2:
        return lower
    if 0 < first < size - k and center - ordered[first - 1] <= ordered[first + k] - center:
        first -= 1
    return (lower + _kth_deviation(ordered, center, k + 1, min(first, size - k - 1))) / 2


def _kth_deviation(ordered: list[float], center: float, k: int, first: int) -> float:
    """The k-th smallest deviation, given the first window of k + 1 whose left end is no
    farther from `center` than its right end (len(ordered) - k when none is)."""
    if first == 0:
        return abs(ordered[k] - center)
    if first == len(ordered) - k:
        return abs(ordered[first - 1] - center)
    return min(abs(ordered[first - 1] - center), abs(ordered[first + k] - center))


def _series_of(values: dict[date, float | None]) -> Series:
    """The series of a {day: value} map: day numbers and non-null values, in day order."""
    known = sorted(
        (day.toordinal() - EPOCH_ORDINAL, v) for day, v in values.items() if v is not None
    )
    return [number for number, _ in known], [v for _, v in known]


def compute_trend(
    user_id: str, metric: str, day: date, values: dict[date, float | None]
) -> TrendRow:
    """The trend of one metric on one day, from the user's values of the days around it."""
    out: list[TrendRow] = []
    number = day.toordinal() - EPOCH_ORDINAL
    _series_trends(user_id, metric, _series_of(values), [number], {}, out)
    return out[0]


def _series_trends(
    user_id: str,
    metric: str,
    series: Series,
    days: Iterable[int],
    stored: dict[tuple[str, str, date], tuple[Any, ...]],
    out: list[TrendRow],
    partial: Partial | None = None,
) -> None:
    """Appends to `out` the trends of one (user, metric) series on `days` (ascending day
    numbers) that differ from `stored`.

    Windows are index ranges of the series found by bisection. The 60-day history stays
    sorted from one day to the next (a removal and an insertion per day step) instead of being
    re-sorted: equal values enter right of their equals and leave from the left, so the list is
    exactly what `sorted()` of the history in day order gives, and the means add the same
    values in the same order as filtering a slice of days does."""
    numbers, values = series
    min_spread = METRICS_BY_NAME[metric].min_spread
    # A non-finite value (validation refuses them) orders arbitrarily: then each day re-sorts
    # its history in day order, exactly as the definition reads.
    finite = isfinite(sum(values))
    history: list[float] = []
    h_lo = h_hi = 0
    for number in days:
        end = bisect_right(numbers, number)
        value = values[end - 1] if end and numbers[end - 1] == number else None
        so_far = partial.get(number) if partial and value is None else None
        start7 = bisect_left(numbers, number - 6, 0, end)
        start28 = bisect_left(numbers, number - 27, 0, start7)
        mean_7d = sum(values[start7:end]) / (end - start7) if end > start7 else None
        mean_28d = sum(values[start28:end]) / (end - start28) if end > start28 else None
        lo = bisect_left(numbers, number - BASELINE_DAYS, 0, start28)
        hi = end if value is None else end - 1
        if finite and lo < h_hi and (lo - h_lo) + (hi - h_hi) <= _RESORT_AFTER:
            for gone in values[h_lo:lo]:
                del history[bisect_left(history, gone)]
            for new in values[h_hi:hi]:
                insort_right(history, new)
        else:
            history = sorted(values[lo:hi])
        h_lo, h_hi = lo, hi
        baseline = spread = deviation = None
        direction, flag = "flat", False
        size = len(history)
        if size >= MIN_BASELINE_VALUES:
            middle = size // 2
            baseline = history[middle] if size % 2 else (history[middle - 1] + history[middle]) / 2
            if finite:
                spread = _MAD_TO_SIGMA * _deviation_median(history, baseline)
            else:
                spread = _MAD_TO_SIGMA * _median([abs(v - baseline) for v in values[lo:hi]])
            scale = max(spread, min_spread)
            if value is not None and scale > 0:
                deviation = (value - baseline) / scale
                flag = abs(deviation) >= FLAG_Z
            elif so_far is not None and scale > 0:
                deviation = (so_far - baseline) / scale
            if mean_7d is not None and scale > 0:
                direction = _direction((mean_7d - baseline) / scale)
        if so_far is not None:
            value = so_far
        fields = (
            None if value is None else round(value, _DIGITS),
            None if mean_7d is None else round(mean_7d, _DIGITS),
            None if mean_28d is None else round(mean_28d, _DIGITS),
            None if baseline is None else round(baseline, _DIGITS),
            None if spread is None else round(spread, _DIGITS),
            None if deviation is None else round(deviation, _DIGITS),
            direction,
            flag,
            so_far is not None,
        )
        day = date.fromordinal(number + EPOCH_ORDINAL)
        if stored.get((user_id, metric, day)) != fields:
            out.append(TrendRow._make((user_id, metric, day, *fields)))


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


async def lock_users(conn: asyncpg.Connection, user_ids: Iterable[str]) -> None:
    """Take the per-user trend locks, held until the transaction ends; `recompute` needs them."""
    await sql.lock_users(conn, user_ids)


async def recompute(conn: asyncpg.Connection, changed: Iterable[ChangedDay]) -> list[TrendRow]:
    """Recompute, store and return the trend rows that changed because these user-days did.
    The caller holds the locks of these users (`lock_users`)."""
    ranges = _ranges(changed)
    if not ranges:
        return []
    by_table: dict[str, list[sql.Window]] = defaultdict(list)
    for (user_id, table), (lo, hi) in ranges.items():
        by_table[table].append(
            (user_id, lo - timedelta(days=BASELINE_DAYS), hi + timedelta(BASELINE_DAYS))
        )
    series: dict[tuple[str, str], Series] = {}
    partial: dict[tuple[str, str], Partial] = {}
    for table, windows in by_table.items():
        complete, in_progress = await sql.metric_values(conn, table, windows)
        series.update(complete)
        partial.update(in_progress)
    targets = [
        (user_id, metric.name, lo, hi + timedelta(days=BASELINE_DAYS))
        for (user_id, table), (lo, hi) in ranges.items()
        for metric in metrics_of(table)
    ]
    stored = await daily_trends.stored_trends(conn, targets)
    fresh = fresh_trends(targets, series, stored, partial)
    await daily_trends.write_trends(conn, fresh, stored, datetime.now(UTC))
    return fresh


def fresh_trends(
    targets: Sequence[tuple[str, str, date, date]],
    series: dict[tuple[str, str], Series],
    stored: dict[tuple[str, str, date], tuple[Any, ...]],
    partial: dict[tuple[str, str], Partial] | None = None,
) -> list[TrendRow]:
    """The trend rows of (user, metric, first day, last day) targets that differ from `stored`:
    on the days with a value (complete or in progress) and the days with a stored row."""
    stored_days: dict[tuple[str, str], set[int]] = defaultdict(set)
    for user_id, metric, day in stored:
        stored_days[(user_id, metric)].add(day.toordinal() - EPOCH_ORDINAL)
    out: list[TrendRow] = []
    for user_id, metric, lo, hi in targets:
        numbers, values = series.get((user_id, metric), _EMPTY)
        first = bisect_left(numbers, lo.toordinal() - EPOCH_ORDINAL)
        last = bisect_right(numbers, hi.toordinal() - EPOCH_ORDINAL)
        days = numbers[first:last]
        extra = stored_days.get((user_id, metric))
        so_far = (partial or {}).get((user_id, metric))
        if so_far:
            lo_n, hi_n = lo.toordinal() - EPOCH_ORDINAL, hi.toordinal() - EPOCH_ORDINAL
            extra = (extra or set()).union(n for n in so_far if lo_n <= n <= hi_n)
        if extra:
            days = sorted(extra.union(days))
        _series_trends(user_id, metric, (numbers, values), days, stored, out, so_far)
    return out


def to_event(row: TrendRow, computed_at: datetime | int) -> dict[str, Any]:
    """The Avro datum of `oura.trends.daily` (schemas/avro/trend.avsc). `computed_at` may be
    epoch milliseconds, what the field holds: one conversion per batch instead of per event."""
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
        "in_progress": row.in_progress,
        "computed_at": computed_at,
    }
