"""Grafana's PostgreSQL query interpolation, reproduced for tests.

Order and output follow Grafana (12.x): the frontend first replaces dashboard variables
(`$name`, `${name}`, `${name:raw}`, `[[name]]`; a single-value variable is inserted raw with `'`
doubled, a multi-value one as a quoted, comma-separated list), then the backend replaces
`$__interval`, `$__interval_ms`, `$__unixEpochFrom()`, `$__unixEpochTo()`, then the macros of
pkg/tsdb/grafana-postgresql-datasource/macros.go (`$__timeFilter(col)` ->
`col BETWEEN '<from RFC3339Nano>' AND '<to>'`, `$__timeGroup(col, '1h')` ->
`floor(extract(epoch from col)/3600)*3600`, ...)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_MACRO = re.compile(r"\$(__\w+)\(([^)]*)\)")
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(\w+)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    @classmethod
    def last(cls, days: int) -> TimeRange:
        end = datetime.now(UTC).replace(microsecond=0)
        return cls(end - timedelta(days=days), end)


def rfc3339nano(moment: datetime) -> str:
    """Go's time.RFC3339Nano for a UTC time: trailing zeros of the fraction dropped, 'Z'."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def interval_seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", text.strip().strip("'"))
    if not match:
        raise ValueError(f"not a Grafana interval: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _go_float(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def interpolate_variables(sql: str, variables: Mapping[str, str | list[str]]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3) or match.group(4)
        if name.startswith("__") or name not in variables:
            return match.group(0)
        value = variables[name]
        if isinstance(value, list):
            return ",".join("'" + v.replace("'", "''") + "'" for v in value)
        return value.replace("'", "''")

    return _VARIABLE.sub(replace, sql)


def expand_macros(sql: str, time_range: TimeRange, interval: timedelta) -> str:
    start, end = time_range.start, time_range.end
    sql = sql.replace("$__interval_ms", str(int(interval.total_seconds() * 1000)))
    sql = sql.replace("$__interval", f"{int(interval.total_seconds())}s")
    sql = sql.replace("$__unixEpochFrom()", str(int(start.timestamp())))
    sql = sql.replace("$__unixEpochTo()", str(int(end.timestamp())))

    def macro(match: re.Match[str]) -> str:
        name = match.group(1)
        args = [a.strip() for a in match.group(2).split(",")] if match.group(2).strip() else []
        return _macro(name, args, start, end)

    return _MACRO.sub(macro, sql)


def _macro(name: str, args: list[str], start: datetime, end: datetime) -> str:
    if name == "__time":
        return f'{args[0]} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {args[0]}) as "time"'
    if name == "__timeFilter":
        return f"{args[0]} BETWEEN '{rfc3339nano(start)}' AND '{rfc3339nano(end)}'"
    if name == "__timeFrom":
        return f"'{rfc3339nano(start)}'"
    if name == "__timeTo":
        return f"'{rfc3339nano(end)}'"
    if name in ("__timeGroup", "__timeGroupAlias"):
        if len(args) < 2:
            raise ValueError(f"macro {name} needs a time column and an interval")
        seconds = _go_float(interval_seconds(args[1]))
        group = f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"
        return group + (' AS "time"' if name == "__timeGroupAlias" else "")
    if name == "__unixEpochFilter":
        return f"{args[0]} >= {int(start.timestamp())} AND {args[0]} <= {int(end.timestamp())}"
    if name in ("__unixEpochGroup", "__unixEpochGroupAlias"):
        seconds = _go_float(interval_seconds(args[1]))
        group = f"floor(({args[0]})/{seconds})*{seconds}"
        return group + (' AS "time"' if name == "__unixEpochGroupAlias" else "")
    raise ValueError(f"Grafana's PostgreSQL data source has no macro ${name}")


def interpolate(
    sql: str,
    variables: Mapping[str, str | list[str]],
    time_range: TimeRange,
    interval: timedelta = timedelta(hours=1),
) -> str:
    """The SQL text Grafana sends to PostgreSQL for `sql` on a dashboard."""
    builtins = {
        "__from": str(int(time_range.start.timestamp() * 1000)),
        "__to": str(int(time_range.end.timestamp() * 1000)),
    }
    text = interpolate_variables(sql, {**builtins, **variables})
    for name, value in builtins.items():
        text = text.replace("$" + name, value).replace("${" + name + "}", value)
    expanded = expand_macros(text, time_range, interval)
    leftover = re.search(r"\$\{?\w+|\[\[\w+\]\]", expanded)
    if leftover:
        raise ValueError(f"uninterpolated {leftover.group(0)!r} in: {expanded}")
    return expanded


@dataclass(frozen=True)
class SqlQuery:
    """One SQL query of a dashboard, with what Grafana needs back from it."""

    dashboard: str
    where: str
    """Panel title, 'variable NAME' or 'annotation NAME'."""
    sql: str
    format: str
    """time_series | table | variable | annotation"""
    panel_type: str = ""
    columns: tuple[str, ...] = ()
    """Column names the panel's field overrides refer to."""

    @property
    def id(self) -> str:
        return f"{self.dashboard}: {self.where}"


def sql_queries(name: str, dashboard: Mapping[str, Any]) -> Iterator[SqlQuery]:
    for variable in dashboard.get("templating", {}).get("list", []):
        if _is_postgres(variable.get("datasource")):
            query = variable["query"]
            sql = query["rawSql"] if isinstance(query, dict) else query
            yield SqlQuery(name, f"variable {variable['name']}", sql, "variable")
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if _is_postgres(annotation.get("datasource")):
            sql = annotation.get("target", {}).get("rawSql") or annotation["rawQuery"]
            yield SqlQuery(name, f"annotation {annotation['name']}", sql, "annotation")
    for panel in _panels(dashboard.get("panels", [])):
        overrides = panel.get("fieldConfig", {}).get("overrides", [])
        named = tuple(o["matcher"]["options"] for o in overrides if o["matcher"]["id"] == "byName")
        for target in panel.get("targets", []):
            if _is_postgres(target.get("datasource") or panel.get("datasource")):
                yield SqlQuery(
                    name,
                    f"{panel['title']} [{target['refId']}]",
                    target["rawSql"],
                    target.get("format", "time_series"),
                    panel["type"],
                    named,
                )


def promql_expressions(name: str, dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, expr) of every Prometheus target of a dashboard."""
    for panel in _panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            source = target.get("datasource") or panel.get("datasource") or {}
            if source.get("type") == "prometheus":
                yield f"{name}: {panel['title']} [{target['refId']}]", target["expr"]


def _panels(panels: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _is_postgres(source: Any) -> bool:
    return isinstance(source, dict) and source.get("type") in (
        "grafana-postgresql-datasource",
        "postgres",
    )
