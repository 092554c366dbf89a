"""Pure parts: validation rules, trend arithmetic, and the typed columns against the database."""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.data_types import DATA_TYPES
from schemas.examples import example_document
from schemas.records import RawRecord
from schemas.tables.channels import USER_CHANGED_CHANNEL
from schemas.tables.documents import COLUMNS
from stream_processor.storage.documents import (
    STATEMENT_BYTES,
    DocumentRow,
    _statement_chunks,
    day_in_progress,
    notify_users_changed,
    to_row,
    typed_values,
)
from stream_processor.trends import compute_trend
from stream_processor.validation import ValidationError, _Checker, _finite, validate

USER = str(uuid.uuid4())
FETCHED = datetime(2026, 1, 1, tzinfo=UTC)


def _record(data_type: str, document: dict[str, object]) -> RawRecord:
    return RawRecord(USER, data_type, document, datetime(2026, 1, 1, tzinfo=UTC), "/x")


@pytest.mark.parametrize("data_type", [t.name for t in DATA_TYPES])
def test_realistic_documents_pass_validation(data_type: str) -> None:
    for seed in range(40):
        doc = example_document(data_type, day=date(2025, 3, 1) + timedelta(days=seed), seed=seed)
        assert validate(_record(data_type, doc))


def test_sample_series_longer_than_its_sleep_is_flagged() -> None:
    doc = example_document("sleep", day=date(2025, 3, 1), seed=1)
    doc["heart_rate"]["items"] = doc["heart_rate"]["items"] * 3
    _, notes = validate(_record("sleep", doc))
    assert "run past the end of the period" in notes["heart_rate"]


def test_negative_durations_and_bad_series_are_all_noted_and_kept_out_of_typed_columns() -> None:
    doc = example_document("daily_activity", day=date(2025, 3, 1), seed=1)
    doc["steps"] = -5
    doc["met"]["interval"] = 0
    key, notes = validate(_record("daily_activity", doc))
    assert key == doc["id"]
    assert notes["steps"] == "steps=-5 is outside >= 0"
    assert "met.interval=0 must be a positive number" in notes["met"]
    row = to_row("daily_activity", USER, key, doc, "{}", b"", FETCHED, notes)
    typed = dict(zip((c.name for c in COLUMNS["daily_activity"]), row.typed, strict=True))
    assert typed["steps"] is None and typed["score"] == doc["score"]
    assert json.loads(row.quality or "") == notes


def test_an_implausible_sleep_keeps_its_night() -> None:
    doc = example_document("sleep", day=date(2025, 3, 1), seed=2)
    doc["average_heart_rate"] = 400
    doc["hrv"]["items"][3] = -12.0
    doc["readiness"]["score"] = 120
    key, notes = validate(_record("sleep", doc))
    assert set(notes) == {"average_heart_rate", "hrv", "readiness.score"}
    row = to_row("sleep", USER, key, doc, "{}", b"", FETCHED, notes)
    typed = dict(zip((c.name for c in COLUMNS["sleep"]), row.typed, strict=True))
    assert typed["average_heart_rate"] is None and typed["readiness_score"] is None
    assert typed["total_sleep_duration"] == doc["total_sleep_duration"]
    assert typed["average_hrv"] == doc["average_hrv"]


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d.update(day="2025-02-30"), "not a real calendar date"),
        (lambda d: d.update(day=None), "required field 'day' is missing"),
        (lambda d: d.update(id=None, day=None), "neither an id nor a day"),
    ],
)
def test_documents_that_cannot_be_stored_are_refused(
    mutate: Callable[[dict[str, Any]], None], problem: str
) -> None:
    doc = example_document("daily_sleep", day=date(2025, 3, 1), seed=1)
    mutate(doc)
    with pytest.raises(ValidationError, match=problem):
        validate(_record("daily_sleep", doc))


def test_document_without_id_gets_a_derived_key() -> None:
    doc = example_document("daily_cardiovascular_age", day=date(2025, 3, 1), seed=1)
    doc["id"] = None
    assert validate(_record("daily_cardiovascular_age", doc)) == (
        "daily_cardiovascular_age:2025-03-01",
        {},
    )


@pytest.mark.parametrize(
    ("data_type", "fetched", "in_progress"),
    [
        # a California day (UTC-8) fetched mid-morning, then after midnight there
        ("daily_activity", datetime(2025, 3, 1, 18, 0, tzinfo=UTC), True),
        ("daily_activity", datetime(2025, 3, 2, 8, 1, tzinfo=UTC), False),
        ("daily_stress", datetime(2025, 3, 2, 7, 0, tzinfo=UTC), True),
        ("heartrate", datetime(2025, 3, 1, 23, 0, tzinfo=UTC), True),
        ("heartrate", datetime(2025, 3, 2, 0, 0, tzinfo=UTC), False),
        # a night is complete when it is published
        ("daily_sleep", datetime(2025, 3, 1, 9, 0, tzinfo=UTC), False),
    ],
)
def test_a_day_still_in_progress_is_told_from_the_document_zone(
    data_type: str, fetched: datetime, in_progress: bool
) -> None:
    doc = example_document(data_type, day=date(2025, 3, 1), seed=1)
    if "timestamp" in doc:
        doc["timestamp"] = "2025-03-01T04:00:00-08:00"
    assert day_in_progress(data_type, doc, "2025-03-01", fetched) is in_progress


def test_a_day_without_a_zone_is_over_only_where_it_ends_last() -> None:
    doc = {"day": "2025-03-01"}
    assert day_in_progress(
        "daily_activity", doc, "2025-03-01", datetime(2025, 3, 2, 11, tzinfo=UTC)
    )
    assert not day_in_progress(
        "daily_activity", doc, "2025-03-01", datetime(2025, 3, 2, 12, tzinfo=UTC)
    )


def test_trend_baseline_deviation_and_flag() -> None:
    start = date(2025, 1, 1)
    values: dict[date, float | None] = {start + timedelta(days=i): 60.0 + i % 5 for i in range(60)}
    target = start + timedelta(days=60)
    values[target] = 90.0
    trend = compute_trend(USER, "daily_sleep.score", target, values)
    assert trend.baseline == 62.0
    assert trend.baseline_spread == pytest.approx(1.4826)
    assert trend.deviation == pytest.approx((90 - 62) / 1.4826, rel=1e-5)
    assert trend.flag and trend.direction == "up"
    assert trend.mean_7d == pytest.approx((sum(60.0 + i % 5 for i in range(54, 60)) + 90) / 7)


def test_too_little_history_gives_no_baseline() -> None:
    start = date(2025, 1, 1)
    values: dict[date, float | None] = {start + timedelta(days=i): 50.0 for i in range(10)}
    trend = compute_trend(USER, "daily_sleep.score", start + timedelta(days=9), values)
    assert trend.baseline is None and trend.deviation is None and not trend.flag
    assert trend.mean_7d == 50.0 and trend.direction == "flat"


def test_heartrate_columns_extracted_in_one_pass_equal_the_column_definitions() -> None:
    for seed in range(5):
        doc = example_document("heartrate", day=date(2025, 3, 1), seed=seed)
        expected = tuple(column.extract(doc) for column in COLUMNS["heartrate"])
        assert typed_values("heartrate", doc) == expected
    assert typed_values("heartrate", {"day": "2025-03-01", "rows": []}) == (0, None, None, None)


async def test_changed_users_are_notified_at_commit_only(db: asyncpg.Pool) -> None:
    heard: list[str] = []

    def hear(*args: object) -> None:
        heard.append(str(args[3]))

    listener = await db.acquire()
    try:
        await listener.add_listener(USER_CHANGED_CHANNEL, hear)
        async with db.acquire() as conn:
            async with conn.transaction():
                await notify_users_changed(conn, [USER, USER])
                await asyncio.sleep(0.2)
                assert heard == []  # nothing before the commit
            await asyncio.sleep(0.2)
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await notify_users_changed(conn, ["rolled-back"])
                    raise RuntimeError
        for _ in range(50):
            if heard:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert heard == [USER]  # once per user, and nothing from the rolled-back transaction
    finally:
        await listener.remove_listener(USER_CHANGED_CHANNEL, hear)
        await db.release(listener)


def _values_by_the_book(values: list[Any], low: float | None, high: float | None) -> list[str]:
    """_Checker._values as it was before its sum() fast path: the reference it must equal."""
    problems: list[str] = []
    if not values:
        return problems
    try:
        total = math.fsum(values)
        smallest, largest = min(values), max(values)
    except TypeError:
        bad = next(v for v in values if not _finite(v))
        return [f"x holds a non-numeric value, e.g. {bad!r}"]
    if not math.isfinite(total) or any(isinstance(v, bool) for v in (smallest, largest)):
        return ["x holds non-finite values"]
    if (low is not None and smallest < low) or (high is not None and largest > high):
        out = [
            v for v in values if (low is not None and v < low) or (high is not None and v > high)
        ]
        problems.append(f"x has {len(out)} values outside {low}-{high}, e.g. {out[0]!r}")
    return problems


def _outcome(run: Callable[[], list[str]]) -> list[str] | str:
    try:
        return run()
    except Exception as exc:  # fsum's OverflowError/ValueError escape both versions alike
        return f"{type(exc).__name__}: {exc}"


def _checked(values: list[Any], low: float | None, high: float | None) -> list[str]:
    checker = _Checker()
    checker._values("x", "x", values, low, high)
    return list(checker.notes.values())


_SERIES_VALUE = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-50, max_value=400),
    st.integers(-50, 400),
    st.floats(),  # NaN, infinities, huge magnitudes
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from(["a", None, [1.0]]),
)


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(_SERIES_VALUE, max_size=12) | st.lists(st.floats(0, 250), max_size=50),
    st.sampled_from([(0, 250), (0, None), (20, 300), (0, 100), (None, None)]),
)
def test_series_values_are_judged_as_before(values: list[Any], bounds: tuple[Any, Any]) -> None:
    values = [v for v in values if v is not None]  # _Checker.series drops the nulls
    low, high = bounds
    assert _outcome(lambda: _checked(values, low, high)) == _outcome(
        lambda: _values_by_the_book(values, low, high)
    )


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(_SERIES_VALUE, max_size=12) | st.lists(st.floats(0, 250) | st.none(), max_size=50),
    st.sampled_from([(0, 250), (0, None), (0, 100), (None, None)]),
)
def test_series_items_with_and_without_nulls_are_judged_as_before(
    items: list[Any], bounds: tuple[Any, Any]
) -> None:
    low, high = bounds
    doc = {"x": {"interval": 60, "items": items, "timestamp": "2025-03-01T00:00:00+00:00"}}

    def judged() -> list[str]:
        checker = _Checker()
        checker.series(doc, "x", low=low, high=high)
        return list(checker.notes.values())

    def before() -> list[str]:
        kept = [v for v in items if v is not None]
        return [p.replace("x ", "x.items ", 1) for p in _values_by_the_book(kept, low, high)]

    assert _outcome(judged) == _outcome(before)


def test_heartrate_stamp_off_its_day_in_the_middle_is_still_named() -> None:
    doc = example_document("heartrate", day=date(2025, 3, 1), seed=2)
    middle = len(doc["rows"]) // 2
    doc["rows"][middle]["timestamp"] = "2025-03-02T00:00:00+00:00"
    _, notes = validate(_record("heartrate", doc))
    assert set(notes) == {f"rows[{middle}].timestamp", f"rows[{middle}].timestamp_unix"}
    assert notes[f"rows[{middle}].timestamp"] == (
        "timestamp 2025-03-02T00:00:00+00:00 is not on the UTC day 2025-03-01"
    )


def test_implausible_heart_rates_are_flagged_and_left_out_of_the_columns() -> None:
    doc = example_document("heartrate", day=date(2025, 3, 1), seed=2)
    doc["rows"][5]["bpm"] = 900
    key, notes = validate(_record("heartrate", doc))
    assert notes == {"rows[5].bpm": "rows[5].bpm=900 is outside 20-300"}
    row = to_row("heartrate", USER, key, doc, "{}", b"", FETCHED, notes)
    plausible = [r["bpm"] for i, r in enumerate(doc["rows"]) if i != 5]
    assert row.typed[2] == max(plausible) and row.typed[0] == len(doc["rows"])


@pytest.mark.parametrize(
    "rows",
    [
        [{"bpm": 60}, {"bpm": None}, {"bpm": 71}],
        [{"bpm": 60}, {}, {"bpm": 71.5}],
        [{"bpm": None}],
        [{"bpm": True}, {"bpm": 80}],
    ],
)
def test_heartrate_columns_with_missing_bpm_equal_the_column_definitions(
    rows: list[dict[str, Any]],
) -> None:
    doc = {"day": "2025-03-01", "rows": rows}
    expected = tuple(column.extract(doc) for column in COLUMNS["heartrate"])
    assert typed_values("heartrate", doc) == expected


def test_upserts_are_split_by_document_bytes() -> None:
    def row(size: int, n: int) -> DocumentRow:
        return DocumentRow(
            "u", f"k{n}", None, (), "x" * size, b"", datetime(2026, 1, 1, tzinfo=UTC)
        )

    rows = [row(STATEMENT_BYTES // 3, n) for n in range(7)] + [row(STATEMENT_BYTES * 2, 7)]
    rows += [row(10, n) for n in range(8, 12)]
    chunks = _statement_chunks(rows)
    assert [r for chunk in chunks for r in chunk] == rows
    assert [len(c) for c in chunks] == [3, 3, 1, 1, 4]
    assert all(
        sum(len(r.document_json) for r in c) <= STATEMENT_BYTES for c in chunks if len(c) > 1
    )
    assert _statement_chunks([]) == []
