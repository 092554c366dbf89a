"""Semantic checks of a decoded raw record, per Oura data type, from the API v2 specification.

The Avro schema already guarantees shapes and types; these checks catch what a schema cannot.
They come in two classes (the README lists the rules):
  * hard: the document cannot be stored at all: the user id is not a UUID, the document's day
    is missing or not a real date, it has neither an id nor a day to key it by, or its shape is
    broken (a heart-rate day without rows). `validate` raises `ValidationError` naming every
    such problem, and the record goes to the dead-letter topic.
  * plausibility: one field makes no sense (a score outside 0-100, contributors outside 1-100,
    a negative duration, an implausible heart rate, negative or out-of-range samples, a sleep
    that ends before it starts, a series that overruns its period, a required field missing).
    The document is kept: `validate` returns a note per field, the flagged fields are left out
    of the typed columns (and so of the trends and dashboards), and the gateway serves the notes
    with the document. Oura's own examples hold such values; one odd field must not cost the
    night."""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import repeat
from operator import itemgetter
from typing import Any, TypeGuard

from schemas.data_types import PerType, get
from schemas.records import RawRecord, document_key


class ValidationError(ValueError):
    """A record that decoded but makes no sense; the message names every problem."""

    def __init__(self, data_type: str, problems: list[str]) -> None:
        self.data_type = data_type
        self.problems = problems
        super().__init__(f"{data_type}: " + "; ".join(problems))


Check = Callable[["_Checker", dict[str, Any]], None]
_CHECK = PerType[Check]("plausibility check")

# A series may overrun its period by this much: Oura's sample timestamps are rounded.
_SERIES_SLACK = timedelta(minutes=10)
_DAY_SECONDS = 86_400


Notes = dict[str, str]
"""Plausibility problems of a stored document: field path -> what is wrong with it."""


class _Checker:
    """Collects what is wrong with one document: hard `problems`, and plausibility `notes` per
    field (`prefix` names the object being checked, e.g. "readiness."). Helpers ignore absent
    (null) optional fields."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.notes: Notes = {}
        self.prefix = ""

    def fatal(self, message: str) -> None:
        self.problems.append(message)

    def problem(self, field: str, message: str) -> None:
        path = self.prefix + field
        if path in self.notes:
            self.notes[path] += f"; {message}"
        else:
            self.notes[path] = message

    def required(self, doc: dict[str, Any], *fields: str) -> None:
        for name in fields:
            value = doc.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                self.problem(name, f"required field {self.prefix + name!r} is missing or empty")

    def number(self, doc: dict[str, Any], name: str, low: float, high: float | None = None) -> None:
        value = doc.get(name)
        if value is None:
            return
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.problem(name, f"{self.prefix}{name}={value!r} is not a finite number")
        elif value < low or (high is not None and value > high):
            bounds = f"{low}-{high}" if high is not None else f">= {low}"
            self.problem(name, f"{self.prefix}{name}={value!r} is outside {bounds}")

    def score(self, doc: dict[str, Any], *names: str) -> None:
        for name in names:
            self.number(doc, name, 0, 100)

    def non_negative(self, doc: dict[str, Any], *names: str) -> None:
        for name in names:
            self.number(doc, name, 0)

    @contextlib.contextmanager
    def inside(self, field: str) -> Iterator[None]:
        """Problems found within an object field name their path (`contributors.sleep`)."""
        outer, self.prefix = self.prefix, f"{self.prefix}{field}."
        try:
            yield
        finally:
            self.prefix = outer

    def optional_object(self, doc: dict[str, Any], name: str, what: str) -> dict[str, Any] | None:
        """The field's object; None when it is absent, or (a problem) when it is not an object."""
        value = doc.get(name)
        if value is not None and not isinstance(value, dict):
            self.problem(name, f"{name} is not {what}")
            return None
        return value

    def contributors(
        self, doc: dict[str, Any], low: float = 1, field: str = "contributors"
    ) -> None:
        contributors = self.optional_object(doc, field, "an object")
        if contributors is None:
            return
        with self.inside(field):
            for name, value in contributors.items():
                if value is not None:
                    self.number(contributors, name, low, 100)

    def day(
        self, doc: dict[str, Any], name: str, *, required: bool = True, key: bool = False
    ) -> date | None:
        """A YYYY-MM-DD field. A problem with the document's own day (`key`) is hard: the row
        is stored and found by it."""

        def wrong(message: str) -> None:
            self.fatal(message) if key else self.problem(name, message)

        value = doc.get(name)
        if value is None:
            if required:
                wrong(f"required field {name!r} is missing")
            return None
        if not isinstance(value, str) or len(value) != 10:
            wrong(f"{name}={value!r} is not a YYYY-MM-DD date")
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            wrong(f"{name}={value!r} is not a real calendar date")
            return None

    def day_span(self, doc: dict[str, Any]) -> None:
        """Optional `start_day` and `end_day`; when both are there, the end is not before the
        start."""
        end_day = self.day(doc, "end_day", required=False)
        start_day = self.day(doc, "start_day", required=False)
        if start_day and end_day and end_day < start_day:
            self.problem("end_day", f"end_day {end_day} is before start_day {start_day}")

    def moment(self, doc: dict[str, Any], name: str, *, required: bool = True) -> datetime | None:
        value = doc.get(name)
        if value is None or value == "":
            if required:
                self.problem(name, f"required field {name!r} is missing")
            return None
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            self.problem(name, f"{name}={value!r} is not an ISO 8601 date-time")
            return None
        if parsed.tzinfo is None:
            self.problem(name, f"{name}={value!r} has no UTC offset")
            return None
        return parsed

    def ordered(
        self, doc: dict[str, Any], start: str, end: str, *, strict: bool = True
    ) -> tuple[datetime | None, datetime | None]:
        first = self.moment(doc, start, required=strict)
        last = self.moment(doc, end, required=strict)
        if first is not None and last is not None and last < first:
            self.problem(end, f"{end} {doc[end]} is before {start} {doc[start]}")
        elif strict and first is not None and last is not None and last == first:
            self.problem(end, f"{end} equals {start}: the period is empty")
        return first, last

    def _values(
        self, field: str, what: str, values: list[Any], low: float | None, high: float | None
    ) -> None:
        """Every value a finite number within [low, high]; C-speed checks on the happy path."""
        if not values or _plainly_within(values, low, high):
            return
        try:
            total = math.fsum(values)  # TypeError on a non-number, nan/inf on a non-finite one
            smallest, largest = min(values), max(values)
        except TypeError:
            bad = next(v for v in values if not _finite(v))
            self.problem(field, f"{what} holds a non-numeric value, e.g. {bad!r}")
            return
        if not math.isfinite(total) or any(isinstance(v, bool) for v in (smallest, largest)):
            self.problem(field, f"{what} holds non-finite values")
            return
        if (low is not None and smallest < low) or (high is not None and largest > high):
            out = [
                v
                for v in values
                if (low is not None and v < low) or (high is not None and v > high)
            ]
            self.problem(
                field, f"{what} has {len(out)} values outside {low}-{high}, e.g. {out[0]!r}"
            )

    def series(
        self,
        doc: dict[str, Any],
        name: str,
        *,
        within: tuple[datetime | None, datetime | None] | None = None,
        span: timedelta | None = None,
        low: float | None = None,
        high: float | None = None,
    ) -> None:
        """A sample series: positive interval, items that are numbers or null, and a length that
        fits the period it describes (`within` start/end, or at most `span`)."""
        sample = self.optional_object(doc, name, "a sample series object")
        if sample is None:
            return
        interval = sample.get("interval")
        items = sample.get("items")
        if not isinstance(interval, int | float) or not interval > 0:
            self.problem(name, f"{name}.interval={interval!r} must be a positive number of seconds")
            return
        if not isinstance(items, list):
            self.problem(name, f"{name}.items is not a list")
            return
        with self.inside(name):
            start = self.moment(sample, "timestamp")
        self._values(name, f"{name}.items", [v for v in items if v is not None], low, high)
        length = timedelta(seconds=interval * len(items))
        if span is not None and length > span + _SERIES_SLACK:
            self.problem(
                name,
                f"{name}: {len(items)} items every {interval:g} s cover {length}, "
                f"more than the {span} the series describes",
            )
        if within is not None and start is not None:
            first, last = within
            if first is not None and start < first - _SERIES_SLACK:
                self.problem(name, f"{name} starts at {start}, before the period starts ({first})")
            if last is not None and start + length > last + _SERIES_SLACK + timedelta(
                seconds=interval
            ):
                self.problem(
                    name,
                    f"{name}: {len(items)} items every {interval:g} s from {start} run past "
                    f"the end of the period ({last})",
                )


# Below this magnitude math.fsum of any realistic count of values cannot overflow.
_SAFE_MAGNITUDE = 1e300


def _plainly_within(values: list[Any], low: float | None, high: float | None) -> bool:
    """True when _Checker._values would find nothing wrong, proven the cheap way: sum() is a
    fraction of math.fsum's cost and is finite exactly when every value is a finite number
    (bounded magnitudes rule out fsum's overflow). Anything else gets the full check."""
    try:
        total = sum(values)
        smallest, largest = min(values), max(values)
        finite = math.isfinite(total)
    except (TypeError, ValueError, OverflowError):
        return False
    return (
        finite
        and type(smallest) in _PLAIN_NUMBERS
        and type(largest) in _PLAIN_NUMBERS
        and smallest > -_SAFE_MAGNITUDE
        and largest < _SAFE_MAGNITUDE
        and len(values) < 1e9
        and (low is None or smallest >= low)
        and (high is None or largest <= high)
    )


_PLAIN_NUMBERS = (float, int)


def _finite(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@_CHECK.of("daily_sleep")
def _daily_sleep(c: _Checker, doc: dict[str, Any]) -> None:
    c.required(doc, "timestamp")
    c.score(doc, "score")
    c.contributors(doc)


@_CHECK.of("sleep")
def _sleep(c: _Checker, doc: dict[str, Any]) -> None:
    period = c.ordered(doc, "bedtime_start", "bedtime_end")
    c.non_negative(
        doc,
        "awake_time",
        "deep_sleep_duration",
        "light_sleep_duration",
        "rem_sleep_duration",
        "total_sleep_duration",
        "time_in_bed",
        "latency",
        "restless_periods",
        "period",
    )
    c.number(doc, "efficiency", 0, 100)
    c.number(doc, "lowest_heart_rate", 20, 250)
    c.number(doc, "average_heart_rate", 20, 250)
    c.number(doc, "average_hrv", 0, 500)
    c.number(doc, "average_breath", 0, 80)
    start, end = period
    in_bed = doc.get("time_in_bed")
    if start and end and _finite(in_bed) and in_bed > (end - start).total_seconds() + 60:
        c.problem("time_in_bed", f"time_in_bed={in_bed} s is longer than bedtime_start→bedtime_end")
    names = ("deep_sleep_duration", "light_sleep_duration", "rem_sleep_duration")
    stages = [v for k in names if _finite(v := doc.get(k))]
    total = doc.get("total_sleep_duration")
    if _finite(total) and _finite(in_bed) and total > in_bed:
        c.problem(
            "total_sleep_duration", f"total_sleep_duration={total} s exceeds time_in_bed={in_bed} s"
        )
    if len(stages) == len(names) and _finite(in_bed) and sum(stages) > in_bed:
        c.problem("time_in_bed", f"deep+light+REM={sum(stages)} s exceeds time_in_bed={in_bed} s")
    c.series(doc, "heart_rate", within=period, low=0, high=250)
    c.series(doc, "hrv", within=period, low=0)
    readiness = doc.get("readiness")
    if isinstance(readiness, dict):
        c.prefix = "readiness."
        c.score(readiness, "score")
        c.contributors(readiness)
        c.number(readiness, "temperature_deviation", -10, 10)
        c.prefix = ""


@_CHECK.of("daily_activity")
def _daily_activity(c: _Checker, doc: dict[str, Any]) -> None:
    c.required(doc, "timestamp")
    c.score(doc, "score")
    c.contributors(doc)
    c.non_negative(
        doc,
        "active_calories",
        "total_calories",
        "target_calories",
        "steps",
        "equivalent_walking_distance",
        "high_activity_time",
        "medium_activity_time",
        "low_activity_time",
        "sedentary_time",
        "resting_time",
        "non_wear_time",
        "inactivity_alerts",
        "average_met_minutes",
        "high_activity_met_minutes",
        "medium_activity_met_minutes",
        "low_activity_met_minutes",
        "sedentary_met_minutes",
        "target_meters",
    )
    c.series(doc, "met", span=timedelta(hours=25), low=0, high=100)
    class_5_min = doc.get("class_5_min")
    if isinstance(class_5_min, str) and (
        len(class_5_min) > 300 or set(class_5_min) - set("012345")
    ):
        c.problem("class_5_min", "class_5_min must be at most 300 digits 0-5 (one per 5 minutes)")


@_CHECK.of("daily_readiness")
def _daily_readiness(c: _Checker, doc: dict[str, Any]) -> None:
    c.required(doc, "timestamp")
    c.score(doc, "score")
    c.contributors(doc)
    c.number(doc, "temperature_deviation", -10, 10)
    c.number(doc, "temperature_trend_deviation", -10, 10)


_HR_SOURCES = frozenset({"awake", "workout", "rest", "sleep", "live", "session"})
_TIMESTAMP, _SOURCE, _BPM = itemgetter("timestamp"), itemgetter("source"), itemgetter("bpm")


@_CHECK.of("heartrate")
def _heartrate(c: _Checker, doc: dict[str, Any]) -> None:
    rows = doc.get("rows")
    if not isinstance(rows, list) or not rows:
        c.fatal("a heart-rate day needs at least one row")
        return
    if not _heartrate_fast(c, doc, rows):
        _heartrate_rows(c, doc, rows)


def _heartrate_fast(c: _Checker, doc: dict[str, Any], rows: list[dict[str, Any]]) -> bool:
    """Whole-column checks (a day has hundreds of rows); False sends it to the row-by-row
    check, which names the first bad row."""
    day = doc.get("day")
    try:
        stamps = list(map(_TIMESTAMP, rows))
        sources = set(map(_SOURCE, rows))
        bpm = list(map(_BPM, rows))
    except KeyError:
        return False
    # map() over C methods: a day has hundreds of rows and a generator costs a frame per row.
    if not isinstance(day, str) or not all(map(isinstance, stamps, repeat(str))):
        return False
    if stamps != sorted(stamps) or not sources <= _HR_SOURCES:
        return False
    # Sorted strings that share a prefix are contiguous: the first and the last show it for all.
    if not (stamps[0].startswith(f"{day}T") and stamps[-1].startswith(f"{day}T")):
        return False
    if not all(map(str.endswith, stamps, repeat(("+00:00", "Z")))):
        return False
    if not _plainly_within(bpm, 20, 300):
        return False
    notes = dict(c.notes)
    for row in (rows[0], rows[-1]):
        moment = c.moment(row, "timestamp")
        unix = row.get("timestamp_unix")
        if moment is None or (_finite(unix) and abs(unix - moment.timestamp() * 1000) > 1000):
            c.notes = notes  # the row-by-row check says it, naming the row
            return False
    return True


def _heartrate_rows(c: _Checker, doc: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    day = doc.get("day")
    previous: datetime | None = None
    for index, row in enumerate(rows):
        before = len(c.notes)
        c.prefix = f"rows[{index}]."
        c.required(row, "timestamp", "source")
        c.number(row, "bpm", 20, 300)
        if row.get("source") not in _HR_SOURCES:
            c.problem("source", f"source {row.get('source')!r} is not one of {sorted(_HR_SOURCES)}")
        moment = c.moment(row, "timestamp")
        if moment is not None:
            if day and moment.astimezone(UTC).date().isoformat() != day:
                c.problem("timestamp", f"timestamp {row['timestamp']} is not on the UTC day {day}")
            if previous is not None and moment < previous:
                c.problem("timestamp", f"timestamp {row['timestamp']} goes back in time")
            previous = moment
        unix = row.get("timestamp_unix")
        if moment is not None and _finite(unix) and abs(unix - moment.timestamp() * 1000) > 1000:
            c.problem(
                "timestamp_unix",
                f"timestamp_unix {unix} disagrees with timestamp {row['timestamp']}",
            )
        c.prefix = ""
        if len(c.notes) > before:
            return  # one broken row is enough to say why; thousands of rows would drown it


@_CHECK.of("daily_spo2")
def _daily_spo2(c: _Checker, doc: dict[str, Any]) -> None:
    c.number(doc, "breathing_disturbance_index", 0, 100)
    spo2 = doc.get("spo2_percentage")
    if isinstance(spo2, dict):
        c.prefix = "spo2_percentage."
        c.number(spo2, "average", 0, 100)
        c.prefix = ""


@_CHECK.of("daily_stress")
def _daily_stress(c: _Checker, doc: dict[str, Any]) -> None:
    c.non_negative(doc, "stress_high", "recovery_high")
    for name in ("stress_high", "recovery_high"):
        value = doc.get(name)
        if _finite(value) and value > _DAY_SECONDS:
            c.problem(name, f"{name}={value} s is longer than a day")


@_CHECK.of("daily_resilience")
def _daily_resilience(c: _Checker, doc: dict[str, Any]) -> None:
    c.required(doc, "level")
    c.contributors(doc, low=0)


@_CHECK.of("daily_cardiovascular_age")
def _daily_cardiovascular_age(c: _Checker, doc: dict[str, Any]) -> None:
    c.number(doc, "vascular_age", 18, 100)
    c.number(doc, "pulse_wave_velocity", 0, 50)


@_CHECK.of("vo2_max")
def _vo2_max(c: _Checker, doc: dict[str, Any]) -> None:
    c.required(doc, "timestamp")
    c.number(doc, "vo2_max", 1, 100)


@_CHECK.of("workout")
def _workout(c: _Checker, doc: dict[str, Any]) -> None:
    c.required(doc, "activity", "intensity", "source")
    c.ordered(doc, "start_datetime", "end_datetime")
    c.non_negative(doc, "calories", "distance")


@_CHECK.of("session")
def _session(c: _Checker, doc: dict[str, Any]) -> None:
    c.required(doc, "type")
    period = c.ordered(doc, "start_datetime", "end_datetime")
    c.series(doc, "heart_rate", within=period, low=0, high=300)
    c.series(doc, "heart_rate_variability", within=period, low=0)
    c.series(doc, "motion_count", within=period, low=0)


@_CHECK.of("enhanced_tag")
def _enhanced_tag(c: _Checker, doc: dict[str, Any]) -> None:
    c.ordered(doc, "start_time", "end_time", strict=False)
    c.moment(doc, "start_time")
    c.day_span(doc)


@_CHECK.of("sleep_time")
def _sleep_time(c: _Checker, doc: dict[str, Any]) -> None:
    window = doc.get("optimal_bedtime")
    if isinstance(window, dict):
        c.required(window, "start_offset", "end_offset", "day_tz")
        start, end = window.get("start_offset"), window.get("end_offset")
        if _finite(start) and _finite(end) and end < start:
            c.problem(
                "optimal_bedtime", f"optimal_bedtime ends ({end} s) before it starts ({start} s)"
            )


@_CHECK.of("rest_mode_period")
def _rest_mode_period(c: _Checker, doc: dict[str, Any]) -> None:
    c.ordered(doc, "start_time", "end_time", strict=False)
    c.day_span(doc)


@_CHECK.of("ring_configuration")
def _ring_configuration(c: _Checker, doc: dict[str, Any]) -> None:
    c.number(doc, "size", 1, 20)
    c.moment(doc, "set_up_at", required=False)


@_CHECK.of("personal_info")
def _personal_info(c: _Checker, doc: dict[str, Any]) -> None:
    c.number(doc, "age", 0, 130)
    c.number(doc, "weight", 1, 500)
    c.number(doc, "height", 0.3, 3)


CHECKS: dict[str, Check] = _CHECK.complete()


def validate(record: RawRecord) -> tuple[str, Notes]:
    """Check a decoded record; returns its document key and the plausibility notes of its
    fields, or raises ValidationError when it cannot be stored (see the module docstring)."""
    checker = _Checker()
    try:
        uuid.UUID(record.user_id)
    except ValueError:
        checker.fatal(f"user_id {record.user_id!r} is not a UUID")
    doc = record.document
    day_field = get(record.data_type).day_field
    if day_field is not None:
        checker.day(doc, day_field, key=True)
    try:
        CHECKS[record.data_type](checker, doc)
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        checker.fatal(f"malformed document: {type(exc).__name__}: {exc}")
    finally:
        checker.prefix = ""
    key = ""
    try:
        key = document_key(record.data_type, doc)
    except ValueError as exc:
        checker.fatal(str(exc))
    if checker.problems:
        raise ValidationError(record.data_type, _dedupe(checker.problems))
    return key, checker.notes


def _dedupe(problems: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(problems))
