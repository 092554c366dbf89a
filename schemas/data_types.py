"""The Oura data types the platform collects: one registry that the collector, the simulator,
the processor and the gateway all read, so a new type is added in exactly one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar


class QueryKind(StrEnum):
    """How Oura's list route for a type is filtered."""

    DATE = "date"  # start_date / end_date, filtered on the document's day
    DATETIME = "datetime"  # start_datetime / end_datetime (time series)
    NONE = "none"  # no date filter: the whole collection (ring_configuration)
    SINGLE = "single"  # not a list: one object (personal_info)


@dataclass(frozen=True, slots=True)
class DataType:
    name: str
    """Stable platform name: raw topic suffix, table name, Avro record family."""
    path: str
    """Path segment under /v2/usercollection/ (Oura spells vO2_max with a capital O)."""
    query: QueryKind
    scope: str
    """OAuth scope that grants it (Oura's real scope strings, not the spec's `spo2Daily`)."""
    day_field: str | None
    """Document field that holds the local day, if any."""
    api: tuple[str, str]
    """The gateway's list route, `/api/<path>`, and its summary in the OpenAPI document.
    `/api/sleep`, `/api/activity` and `/api/readiness` keep the original API's paths and serve
    the daily summaries; the detailed sleep periods are `/api/sleep-periods`."""
    has_id: bool = True
    """Oura documents carry an `id`; heart rate rows do not and get a derived key."""
    period_field: str | None = None
    """Document field that tells apart several documents of one day (a nap from the night's
    sleep); None where a day has at most one document. Part of a derived key."""
    document_as_text: bool = False
    """The table keeps the document as its JSON text (lz4-compressed), not as jsonb. For the
    types whose documents are mostly one long sample series: PostgreSQL takes ~50 µs to store a
    28 KB heart-rate day as text against ~270-330 µs to parse it into jsonb, and nothing queries
    inside those documents (their values are in typed columns). Read it with `document::json`
    (or `::jsonb` to query into it)."""

    @property
    def document_sql_type(self) -> str:
        return "text" if self.document_as_text else "jsonb"


DATA_TYPES: tuple[DataType, ...] = (
    DataType(
        "daily_sleep",
        "daily_sleep",
        QueryKind.DATE,
        "daily",
        "day",
        api=("sleep", "Daily sleep scores"),
    ),
    DataType(
        "sleep",
        "sleep",
        QueryKind.DATE,
        "daily",
        "day",
        period_field="bedtime_start",
        api=("sleep-periods", "Sleep periods (durations, stages, HRV, heart rate)"),
    ),
    DataType(
        "daily_activity",
        "daily_activity",
        QueryKind.DATE,
        "daily",
        "day",
        document_as_text=True,
        api=("activity", "Daily activity"),
    ),
    DataType(
        "daily_readiness",
        "daily_readiness",
        QueryKind.DATE,
        "daily",
        "day",
        api=("readiness", "Daily readiness"),
    ),
    DataType(
        "heartrate",
        "heartrate",
        QueryKind.DATETIME,
        "heartrate",
        "day",
        has_id=False,
        document_as_text=True,
        api=("heartrate", "Heart rate: one document per UTC day with its samples"),
    ),
    DataType("daily_spo2", "daily_spo2", QueryKind.DATE, "spo2", "day", api=("spo2", "Daily SpO2")),
    DataType(
        "daily_stress",
        "daily_stress",
        QueryKind.DATE,
        "daily",
        "day",
        api=("stress", "Daily stress"),
    ),
    DataType(
        "daily_resilience",
        "daily_resilience",
        QueryKind.DATE,
        "stress",
        "day",
        api=("resilience", "Daily resilience"),
    ),
    DataType(
        "daily_cardiovascular_age",
        "daily_cardiovascular_age",
        QueryKind.DATE,
        "heart_health",
        "day",
        api=("cardiovascular-age", "Daily cardiovascular age"),
    ),
    DataType(
        "vo2_max", "vO2_max", QueryKind.DATE, "heart_health", "day", api=("vo2-max", "VO2 max")
    ),
    DataType(
        "workout",
        "workout",
        QueryKind.DATE,
        "workout",
        "day",
        period_field="start_datetime",
        api=("workouts", "Workouts"),
    ),
    DataType(
        "session",
        "session",
        QueryKind.DATE,
        "session",
        "day",
        period_field="start_datetime",
        api=("sessions", "Sessions (meditation, breathing, ...)"),
    ),
    DataType(
        "enhanced_tag",
        "enhanced_tag",
        QueryKind.DATE,
        "tag",
        "start_day",
        period_field="start_time",
        api=("tags", "Tags"),
    ),
    DataType(
        "sleep_time",
        "sleep_time",
        QueryKind.DATE,
        "daily",
        "day",
        api=("sleep-time", "Recommended sleep time"),
    ),
    DataType(
        "rest_mode_period",
        "rest_mode_period",
        QueryKind.DATE,
        "daily",
        "start_day",
        period_field="start_time",
        api=("rest-mode", "Rest mode periods"),
    ),
    DataType(
        "ring_configuration",
        "ring_configuration",
        QueryKind.NONE,
        "daily",
        None,
        api=("ring-configuration", "Ring configurations (not filtered by date)"),
    ),
    DataType(
        "personal_info",
        "personal_info",
        QueryKind.SINGLE,
        "personal",
        None,
        api=("personal-info", "Personal info (not filtered by date)"),
    ),
)

BY_NAME: dict[str, DataType] = {t.name: t for t in DATA_TYPES}

ALL_SCOPES: tuple[str, ...] = tuple(dict.fromkeys(["email", *(t.scope for t in DATA_TYPES)]))


def get(name: str) -> DataType:
    """Look a data type up by its platform name; raises KeyError naming the valid ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        valid = ", ".join(BY_NAME)
        raise KeyError(f"unknown Oura data type {name!r}; known types: {valid}") from None


F = TypeVar("F", bound=Callable[..., Any])


class PerType(Generic[F]):
    """One function per data type (an example builder, a plausibility check, ...), registered
    next to its code with `@registry.of("sleep")`. `complete()`, at the end of the module,
    fails at import naming the data types still without one, so a new type cannot be
    forgotten there."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._by_name: dict[str, F] = {}

    def of(self, name: str) -> Callable[[F], F]:
        get(name)

        def register(function: F) -> F:
            if name in self._by_name:
                raise ValueError(f"a second {self._what} for {name!r}")
            self._by_name[name] = function
            return function

        return register

    def complete(self) -> dict[str, F]:
        missing = [t.name for t in DATA_TYPES if t.name not in self._by_name]
        if missing:
            raise RuntimeError(f"no {self._what} for data type(s): {', '.join(missing)}")
        return {t.name: self._by_name[t.name] for t in DATA_TYPES}
