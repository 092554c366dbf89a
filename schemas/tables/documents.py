"""The document tables (one per data type in schemas.data_types): their typed columns and where
each value comes from in an Oura document.

The stream processor extracts and writes these columns (stream_processor.storage.documents),
the gateway selects them and declares them in its response models
(gateway.repositories.documents). Every table also has the fixed columns `user_id`, `id`,
`day`, `document`, `content_hash`, `fetched_at`, `written_at`, `quality` and `in_progress`.
`migrations/versions/0001_initial.py` keeps the frozen copy the tables were created from; a
test checks the migrated database against COLUMNS."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from schemas.data_types import DATA_TYPES

Extractor = Callable[[dict[str, Any]], Any]

INT, FLOAT, TEXT, TS, DATE = "integer", "double precision", "text", "timestamptz", "date"

PYTHON_TYPES: dict[str, type] = {INT: int, FLOAT: float, TEXT: str, TS: datetime, DATE: date}
"""What each column type reads back as (asyncpg) and what the gateway's models declare."""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    sql_type: str
    extract: Extractor
    source: str | None
    """The document field (dotted path) the value comes from: a plausibility note on it, or on
    an object holding it, leaves the column null."""

    @property
    def python_type(self) -> type:
        return PYTHON_TYPES[self.sql_type]


def _field(name: str) -> Extractor:
    return lambda doc: doc.get(name)


def _nested(outer: str, inner: str) -> Extractor:
    def extract(doc: dict[str, Any]) -> Any:
        value = doc.get(outer)
        return value.get(inner) if isinstance(value, dict) else None

    return extract


def _int(extract: Extractor) -> Extractor:
    def convert(doc: dict[str, Any]) -> int | None:
        value = extract(doc)
        return None if value is None else int(value)

    return convert


def _float(extract: Extractor) -> Extractor:
    def convert(doc: dict[str, Any]) -> float | None:
        value = extract(doc)
        return None if value is None else float(value)

    return convert


BPM_RANGE = (20, 300)
"""Heart rates the typed columns take; a row outside is flagged by validation and left out."""


def plausible_bpm(rows: Iterable[dict[str, Any]]) -> list[Any]:
    low, high = BPM_RANGE
    return [
        v
        for row in rows
        if isinstance(v := row.get("bpm"), int | float)
        and not isinstance(v, bool)
        and low <= v <= high
    ]


def _bpm(fold: Callable[[list[int]], float]) -> Extractor:
    def extract(doc: dict[str, Any]) -> float | None:
        bpm = plausible_bpm(doc.get("rows") or ())
        return fold(bpm) if bpm else None

    return extract


def _cols(*specs: tuple[str, str] | tuple[str, str, str | Extractor]) -> list[Column]:
    """Columns from (name, type) — the field of that name — or (name, type, source), where the
    source is a field path ("type", "readiness.score") or an extractor of its own."""
    columns = []
    for spec in specs:
        name, sql_type = spec[0], spec[1]
        source: str | None = name
        extract = _field(name)
        if len(spec) == 3:
            given = spec[2]
            if isinstance(given, str):
                source = given
                outer, _, inner = given.partition(".")
                extract = _nested(outer, inner) if inner else _field(outer)
            else:
                source, extract = None, given
        if sql_type == "integer":
            extract = _int(extract)
        elif sql_type == "double precision":
            extract = _float(extract)
        columns.append(Column(name, sql_type, extract, source))
    return columns


COLUMNS: dict[str, list[Column]] = {
    "daily_sleep": _cols(("score", INT)),
    "sleep": _cols(
        ("period", INT),
        ("sleep_type", TEXT, "type"),
        ("bedtime_start", TS),
        ("bedtime_end", TS),
        ("time_in_bed", INT),
        ("total_sleep_duration", INT),
        ("deep_sleep_duration", INT),
        ("light_sleep_duration", INT),
        ("rem_sleep_duration", INT),
        ("awake_time", INT),
        ("efficiency", INT),
        ("latency", INT),
        ("average_hrv", FLOAT),
        ("average_heart_rate", FLOAT),
        ("lowest_heart_rate", INT),
        ("average_breath", FLOAT),
        ("readiness_score", INT, "readiness.score"),
        ("temperature_deviation", FLOAT, "readiness.temperature_deviation"),
    ),
    "daily_activity": _cols(
        ("score", INT),
        ("steps", INT),
        ("active_calories", INT),
        ("total_calories", INT),
        ("equivalent_walking_distance", INT),
        ("high_activity_time", INT),
        ("medium_activity_time", INT),
        ("low_activity_time", INT),
        ("sedentary_time", INT),
        ("resting_time", INT),
        ("non_wear_time", INT),
        ("inactivity_alerts", INT),
        ("average_met_minutes", FLOAT),
    ),
    "daily_readiness": _cols(
        ("score", INT),
        ("temperature_deviation", FLOAT),
        ("temperature_trend_deviation", FLOAT),
    ),
    "heartrate": _cols(
        ("sample_count", INT, lambda doc: len(doc.get("rows") or ())),
        ("bpm_min", INT, _bpm(min)),
        ("bpm_max", INT, _bpm(max)),
        ("bpm_avg", FLOAT, _bpm(lambda bpm: round(sum(bpm) / len(bpm), 3))),
    ),
    "daily_spo2": _cols(
        ("spo2_average", FLOAT, "spo2_percentage.average"),
        ("breathing_disturbance_index", INT),
    ),
    "daily_stress": _cols(("stress_high", INT), ("recovery_high", INT), ("day_summary", TEXT)),
    "daily_resilience": _cols(
        ("level", TEXT),
        ("sleep_recovery", FLOAT, "contributors.sleep_recovery"),
        ("daytime_recovery", FLOAT, "contributors.daytime_recovery"),
        ("stress", FLOAT, "contributors.stress"),
    ),
    "daily_cardiovascular_age": _cols(("vascular_age", INT), ("pulse_wave_velocity", FLOAT)),
    "vo2_max": _cols(("vo2_max", FLOAT)),
    "workout": _cols(
        ("activity", TEXT),
        ("intensity", TEXT),
        ("calories", FLOAT),
        ("distance", FLOAT),
        ("start_datetime", TS),
        ("end_datetime", TS),
    ),
    "session": _cols(
        ("session_type", TEXT, "type"),
        ("mood", TEXT),
        ("start_datetime", TS),
        ("end_datetime", TS),
    ),
    "enhanced_tag": _cols(("tag_type_code", TEXT), ("start_time", TS), ("end_time", TS)),
    "sleep_time": _cols(("recommendation", TEXT), ("status", TEXT)),
    "rest_mode_period": _cols(("start_time", TS), ("end_time", TS), ("end_day", DATE)),
    "ring_configuration": _cols(
        ("hardware_type", TEXT),
        ("color", TEXT),
        ("design", TEXT),
        ("firmware_version", TEXT),
        ("size", INT),
        ("set_up_at", TS),
    ),
    "personal_info": _cols(
        ("age", INT), ("weight", FLOAT), ("height", FLOAT), ("biological_sex", TEXT)
    ),
}
assert set(COLUMNS) == {t.name for t in DATA_TYPES}, "every data type needs its columns"
