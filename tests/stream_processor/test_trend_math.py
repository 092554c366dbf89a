"""The incremental trend computation gives exactly what the straightforward one gave.

`Reference` below is the implementation the processor had before the incremental one: per day,
slice the days of each window, filter, sort, take medians. Every comparison is on the rounded
fields, the values that are stored and published."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.examples import example_document
from schemas.records import canonical_form, document_key
from schemas.tables import trends as daily_trends
from schemas.tables.trends import METRICS, TrendRow, metrics_of
from schemas.tables.trends import METRICS_BY_NAME as BY_NAME
from stream_processor import trends
from stream_processor.storage import trends as sql
from stream_processor.storage.documents import to_row, upsert_documents
from tests.stream_processor.helpers import make_users

USER = "00000000-0000-4000-8000-000000000001"
START = date(2025, 1, 1)
Values = dict[date, float | None]
Stored = dict[tuple[str, str, date], tuple[Any, ...]]


class Reference:
    """The trend computation as it was: windows re-sliced and medians re-sorted per day."""

    @staticmethod
    def _round(value: float | None) -> float | None:
        return None if value is None else round(value, 6)

    @staticmethod
    def _mean(values: Sequence[float]) -> float | None:
        return sum(values) / len(values) if values else None

    @staticmethod
    def _median(values: list[float]) -> float:
        ordered = sorted(values)
        middle = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[middle]
        return (ordered[middle - 1] + ordered[middle]) / 2

    @staticmethod
    def _dense(values: Values, first: date, last: date) -> list[float | None]:
        dense: list[float | None] = [None] * ((last - first).days + 1)
        for day, value in values.items():
            index = (day - first).days
            if 0 <= index < len(dense):
                dense[index] = value
        return dense

    @classmethod
    def trend_at(
        cls, user_id: str, metric: str, day: date, dense: list[float | None], index: int
    ) -> TrendRow:
        def window(back: int, until: int) -> list[float]:
            return [v for v in dense[max(0, index - back) : index + 1 - until] if v is not None]

        value = dense[index]
        mean_7d = cls._mean(window(6, 0))
        mean_28d = cls._mean(window(27, 0))
        history = window(60, 1)
        baseline = spread = deviation = None
        direction, flag = "flat", False
        if len(history) >= 14:
            baseline = cls._median(history)
            spread = 1.4826 * cls._median([abs(v - baseline) for v in history])
            scale = max(spread, BY_NAME[metric].min_spread)
            if value is not None and scale > 0:
                deviation = (value - baseline) / scale
                flag = abs(deviation) >= 2.5
            if mean_7d is not None and scale > 0:
                short_z = (mean_7d - baseline) / scale
                direction = "up" if short_z >= 0.5 else "down" if short_z <= -0.5 else "flat"
        return TrendRow(
            user_id,
            metric,
            day,
            cls._round(value),
            cls._round(mean_7d),
            cls._round(mean_28d),
            cls._round(baseline),
            cls._round(spread),
            cls._round(deviation),
            direction,
            flag,
        )

    @classmethod
    def fresh(
        cls,
        targets: Sequence[tuple[str, str, date, date]],
        values: dict[tuple[str, str], Values],
        stored: Stored,
    ) -> list[TrendRow]:
        stored_days: dict[tuple[str, str], set[date]] = defaultdict(set)
        for user_id, metric, day in stored:
            stored_days[(user_id, metric)].add(day)
        out = []
        for user_id, metric, lo, hi in targets:
            series = values.get((user_id, metric), {})
            days = {d for d, v in series.items() if v is not None and lo <= d <= hi}
            days |= stored_days.get((user_id, metric), set())
            first = lo - timedelta(days=60)
            dense = cls._dense(series, first, hi)
            for day in sorted(days):
                row = cls.trend_at(user_id, metric, day, dense, (day - first).days)
                if stored.get((user_id, metric, day)) != row.fields():
                    out.append(row)
        return out

    @staticmethod
    def values_sql(table: str) -> str:
        aggregates = ", ".join(m.aggregate for m in metrics_of(table))
        return (
            f"SELECT r.user_id::text, r.day, {aggregates}\n"
            f"FROM {table} r\n"
            "JOIN unnest($1::uuid[], $2::date[], $3::date[]) AS w(user_id, lo, hi)\n"
            "  ON r.user_id = w.user_id AND r.day BETWEEN w.lo AND w.hi\n"
            "GROUP BY r.user_id, r.day"
        )

    @classmethod
    async def metric_values(
        cls, conn: asyncpg.Connection, table: str, windows: Sequence[sql.Window]
    ) -> dict[tuple[str, str], Values]:
        out: dict[tuple[str, str], Values] = {}
        rows = await conn.fetch(cls.values_sql(table), *([w[i] for w in windows] for i in range(3)))
        for row in rows:
            for index, metric in enumerate(metrics_of(table), start=2):
                out.setdefault((row[0], metric.name), {})[row[1]] = row[index]
        return out

    @classmethod
    async def recompute(cls, conn: asyncpg.Connection, changed: Iterable[Any]) -> list[TrendRow]:
        """What `trends.recompute` would have returned, without writing anything."""
        ranges = trends._ranges(changed)
        by_table: dict[str, list[sql.Window]] = defaultdict(list)
        for (user_id, table), (lo, hi) in ranges.items():
            by_table[table].append((user_id, lo - timedelta(60), hi + timedelta(60)))
        values: dict[tuple[str, str], Values] = {}
        for table, windows in by_table.items():
            values.update(await cls.metric_values(conn, table, windows))
        targets = [
            (user_id, metric.name, lo, hi + timedelta(days=60))
            for (user_id, table), (lo, hi) in ranges.items()
            for metric in metrics_of(table)
        ]
        return cls.fresh(targets, values, await daily_trends.stored_trends(conn, targets))


def _key(rows: Iterable[TrendRow]) -> list[tuple[Any, ...]]:
    """Rows as comparable tuples; repr keeps -0.0 apart from 0.0 and makes nan equal itself."""
    return [(r.user_id, r.metric, r.day, repr(r.fields())) for r in rows]


# Values from a small pool make ties (and zero spreads) common; -0.0 tests the order of equals.
_POOL = [0.0, -0.0, 1.0, 2.0, 2.5, 3.0, 60.0, 61.0, 1e-7]
values_strategy = st.one_of(
    st.none(),
    st.sampled_from(_POOL),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.integers(0, 100).map(float),
)


@st.composite
def scenarios(draw: st.DrawFn, non_finite: bool = False) -> tuple[Any, ...]:
    """A series of up to 220 days (gaps, None values, ties), a target window, stored rows."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    kind = draw(st.sampled_from(["pool", "integers", "gauss", "mixed"]))
    gaps = draw(st.sampled_from([0.0, 0.1, 0.5, 0.85]))
    nones = draw(st.sampled_from([0.0, 0.05, 0.3]))

    def value() -> float | None:
        if rng.random() < nones:
            return None
        pick = kind if kind != "mixed" else rng.choice(["pool", "integers", "gauss"])
        if pick == "pool":
            return rng.choice(_POOL)
        if pick == "integers":
            return float(rng.randint(40, 60))
        return rng.gauss(50, 8)

    values: Values = {
        START + timedelta(days=i): value()
        for i in range(draw(st.integers(0, 220)))
        if rng.random() >= gaps
    }
    specials = [values_strategy]
    if non_finite:
        specials.append(st.sampled_from([math.inf, -math.inf, math.nan]))
    for offset, special in draw(st.lists(st.tuples(st.integers(0, 220), st.one_of(specials)))):
        values[START + timedelta(days=offset)] = special
    metric = draw(st.sampled_from([m.name for m in METRICS]))
    lo = START + timedelta(days=draw(st.integers(0, 160)))
    hi = lo + timedelta(days=draw(st.integers(0, 70)))
    window = {d: v for d, v in values.items() if lo - timedelta(60) <= d <= hi}
    targets = [(USER, metric, lo, hi)]
    reference = Reference.fresh(targets, {(USER, metric): window}, {})
    stored: Stored = {}
    for row in reference:  # some rows stored as computed, some stale, some missing
        choice = rng.choice(["same", "stale", "missing"])
        if choice != "missing":
            stored[(USER, metric, row.day)] = (
                row.fields() if choice == "same" else (*row.fields()[:-1], not row.flag)
            )
    for offset in draw(st.lists(st.integers(0, (hi - lo).days), max_size=5)):
        stored.setdefault((USER, metric, lo + timedelta(offset)), ("stale",))
    return targets, (USER, metric), window, stored


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_fresh_trends_equal_the_reference(scenario: tuple[Any, ...]) -> None:
    targets, key, window, stored = scenario
    expected = Reference.fresh(targets, {key: window}, stored)
    got = trends.fresh_trends(targets, {key: trends._series_of(window)}, stored)
    assert _key(got) == _key(expected)


@settings(max_examples=150, deadline=None)
@given(scenarios(non_finite=True))
def test_non_finite_values_give_what_the_reference_gives(scenario: tuple[Any, ...]) -> None:
    targets, key, window, stored = scenario
    expected = Reference.fresh(targets, {key: window}, stored)
    got = trends.fresh_trends(targets, {key: trends._series_of(window)}, stored)
    assert _key(got) == _key(expected)


@settings(max_examples=500, deadline=None)
@given(st.lists(values_strategy.filter(lambda v: v is not None), min_size=1, max_size=90))
def test_median_absolute_deviation_without_sorting(values: list[float]) -> None:
    ordered = sorted(values)
    center = Reference._median(values)
    expected = Reference._median([abs(v - center) for v in values])
    assert repr(trends._deviation_median(ordered, center)) == repr(expected)


def test_long_realistic_series_with_every_day_recomputed() -> None:
    rng = random.Random(5)
    for metric in ("daily_sleep.score", "sleep.average_hrv", "vo2_max.vo2_max"):
        values: Values = {}
        for i in range(300):
            if rng.random() < 0.1:
                continue
            value = 60 + rng.gauss(0, 6)
            values[START + timedelta(days=i)] = float(round(value)) if "score" in metric else value
        targets = [(USER, metric, START + timedelta(days=100), START + timedelta(days=299))]
        expected = Reference.fresh(targets, {(USER, metric): values}, {})
        got = trends.fresh_trends(targets, {(USER, metric): trends._series_of(values)}, {})
        assert len(got) > 150
        assert _key(got) == _key(expected)


def test_equal_values_keep_their_day_order_in_the_history() -> None:
    """0.0 and -0.0 compare equal: which one is the median depends on the order of equals,
    and the sign shows in the published bytes."""
    rng = random.Random(11)
    for _ in range(20):
        values: Values = {START + timedelta(days=i): rng.choice([0.0, -0.0]) for i in range(150)}
        targets = [(USER, "daily_readiness.temperature_deviation", START, START + timedelta(149))]
        key = (USER, "daily_readiness.temperature_deviation")
        expected = Reference.fresh(targets, {key: values}, {})
        got = trends.fresh_trends(targets, {key: trends._series_of(values)}, {})
        assert _key(got) == _key(expected)


def test_compute_trend_equals_the_reference() -> None:
    rng = random.Random(9)
    values: Values = {START + timedelta(days=i): float(rng.randint(40, 90)) for i in range(80)}
    values[START + timedelta(days=70)] = None
    for offset in (5, 30, 61, 70, 79):
        day = START + timedelta(days=offset)
        first = day - timedelta(days=60)
        dense = Reference._dense(values, first, day)
        expected = Reference.trend_at(USER, "daily_sleep.score", day, dense, 60)
        assert trends.compute_trend(USER, "daily_sleep.score", day, values) == expected


# --- against PostgreSQL: the SQL series and the whole recompute -----------------------------

_TRENDING_TYPES = sorted({m.table for m in METRICS})


def _rows(user_id: str, data_type: str, day: date, seed: int) -> Any:
    document = example_document(data_type, day=day, seed=seed)
    text, digest = canonical_form(document)
    key = document_key(data_type, document)
    fetched = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seed)
    return to_row(data_type, user_id, key, document, text.decode(), digest, fetched)


async def _write(
    conn: asyncpg.Connection, users: list[str], days: Iterable[int], seed: int
) -> set[tuple[str, str, str]]:
    rng = random.Random(seed)
    changed: set[tuple[str, str, str]] = set()
    days = list(days)
    for data_type in _TRENDING_TYPES:
        rows = [
            _rows(user, data_type, START + timedelta(days=n), seed * 1000 + n + i)
            for i, user in enumerate(users)
            for n in days
            if rng.random() < (0.3 if data_type == "vo2_max" else 0.9)
        ]
        written = await upsert_documents(conn, data_type, rows)
        changed.update((user, data_type, day or "") for user, day in written)
    return changed


async def test_metric_values_series_equal_the_per_day_rows(db: asyncpg.Pool) -> None:
    users = await make_users(db, 2)
    windows = [
        (users[0], START + timedelta(days=10), START + timedelta(days=70)),
        (users[1], START, START + timedelta(days=89)),
    ]
    async with db.acquire() as conn:
        await _write(conn, users, range(90), seed=1)
        for table in _TRENDING_TYPES:
            per_day = await Reference.metric_values(conn, table, windows)
            expected = {key: trends._series_of(values) for key, values in per_day.items()}
            got, partial = await sql.metric_values(conn, table, windows)
            assert got == {key: series for key, series in expected.items() if series[0]}
            assert got, table
            assert partial == {}  # the history's days were all fetched after they ended


async def test_recompute_equals_the_reference_batch_after_batch(db: asyncpg.Pool) -> None:
    users = await make_users(db, 3)
    # The last batch revises stored days and adds new ones: rows both updated and inserted
    # (write_trends upserts the one and copies the other) in one call.
    batches = [range(0, 40), range(40, 43), range(43, 90), range(20, 23), range(60, 61)]
    batches.append(range(85, 95))
    async with db.acquire() as conn:
        for seed, days in enumerate(batches, start=1):
            async with conn.transaction():
                changed = await _write(conn, users, days, seed)
                expected = await Reference.recompute(conn, changed)
                got = await trends.recompute(conn, changed)
            assert _key(got) == _key(expected)
            assert got, f"batch {seed} changed no trend"
            stored = await daily_trends.stored_trends(
                conn, [(r.user_id, r.metric, r.day, r.day) for r in got]
            )
            assert {(r.user_id, r.metric, r.day): r.fields() for r in got} == stored
