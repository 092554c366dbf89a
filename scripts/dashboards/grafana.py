"""A small typed model of Grafana's dashboard JSON (schemaVersion 41, Grafana 11/12).

Only what our dashboards use: PostgreSQL (raw SQL) and Prometheus targets, time series, stat,
bar gauge and table panels, rows, query variables and SQL annotations. Panels are laid out
left to right in rows of 24 columns, so a dashboard is a list of rows of panels.

grafana-foundation-sdk was tried first: it has no PostgreSQL query or SQL annotation type, so
every SQL target (most of ours) would have needed a hand-written escape hatch anyway."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

JSON = dict[str, Any]

SCHEMA_VERSION = 41
GRID_COLUMNS = 24


@dataclass(frozen=True, slots=True)
class DataSource:
    type: str
    uid: str

    def ref(self) -> JSON:
        return {"type": self.type, "uid": self.uid}


# The uids provisioned by deploy/grafana/provisioning/datasources/datasources.yml and the chart.
POSTGRES = DataSource("grafana-postgresql-datasource", "myhealth-postgres")
PROMETHEUS = DataSource("prometheus", "myhealth-prometheus")


@dataclass(frozen=True, slots=True)
class Sql:
    """A raw SQL target. `time_series` results need a `time` column; `table` results are shown
    as they come."""

    sql: str
    format: Literal["time_series", "table"] = "time_series"

    def target(self, ref_id: str) -> JSON:
        return {
            "refId": ref_id,
            "datasource": POSTGRES.ref(),
            "editorMode": "code",
            "format": self.format,
            "rawQuery": True,
            "rawSql": _dedent(self.sql),
        }


@dataclass(frozen=True, slots=True)
class PromQL:
    expr: str
    legend: str = "__auto"
    instant: bool = False

    def target(self, ref_id: str) -> JSON:
        return {
            "refId": ref_id,
            "datasource": PROMETHEUS.ref(),
            "editorMode": "code",
            "expr": _dedent(self.expr),
            "legendFormat": self.legend,
            "range": not self.instant,
            "instant": self.instant,
        }


Query = Sql | PromQL
PanelKind = Literal["timeseries", "stat", "bargauge", "table", "barchart"]


@dataclass(slots=True)
class Panel:
    title: str
    queries: Sequence[Query]
    kind: PanelKind = "timeseries"
    width: int = 12
    height: int = 8
    unit: str | None = None
    description: str = ""
    min: float | None = None
    max: float | None = None
    decimals: int | None = None
    thresholds: list[tuple[float | None, str]] | None = None
    stack: bool = False
    draw: Literal["line", "bars", "points"] = "line"
    overrides: list[JSON] = field(default_factory=list)
    options: JSON = field(default_factory=dict)

    def datasource(self) -> DataSource:
        kinds = {type(q) for q in self.queries}
        if len(kinds) != 1:
            raise ValueError(f"panel {self.title!r} mixes data sources")
        return POSTGRES if kinds == {Sql} else PROMETHEUS

    def to_json(self, panel_id: int, x: int, y: int) -> JSON:
        defaults: JSON = {"custom": self._custom()}
        for key, value in (
            ("unit", self.unit),
            ("min", self.min),
            ("max", self.max),
            ("decimals", self.decimals),
        ):
            if value is not None:
                defaults[key] = value
        if self.thresholds:
            defaults["thresholds"] = {
                "mode": "absolute",
                "steps": [{"value": v, "color": c} for v, c in self.thresholds],
            }
        if self.kind in ("stat", "bargauge"):
            defaults["color"] = {"mode": "thresholds" if self.thresholds else "palette-classic"}
        return {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "datasource": self.datasource().ref(),
            "targets": [q.target(chr(ord("A") + i)) for i, q in enumerate(self.queries)],
            "fieldConfig": {"defaults": defaults, "overrides": self.overrides},
            "options": self._options(),
        }

    def _custom(self) -> JSON:
        if self.kind != "timeseries":
            return {}
        custom: JSON = {
            "drawStyle": self.draw,
            "lineWidth": 2 if self.draw == "line" else 1,
            "fillOpacity": 80 if self.draw == "bars" else (25 if self.stack else 10),
            "pointSize": 5,
            "showPoints": "auto",
            "spanNulls": False,
            "axisSoftMin": None,
        }
        if self.stack:
            custom["stacking"] = {"mode": "normal", "group": "A"}
        return {k: v for k, v in custom.items() if v is not None}

    def _options(self) -> JSON:
        base: JSON
        if self.kind == "timeseries":
            base = {
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "desc"},
            }
        elif self.kind in ("stat", "bargauge"):
            base = {
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "orientation": "auto",
            }
            if self.kind == "stat":
                base |= {"colorMode": "value", "graphMode": "none", "textMode": "auto"}
        elif self.kind == "table":
            base = {"showHeader": True, "cellHeight": "sm"}
        else:
            base = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}}
        return base | self.options


@dataclass(frozen=True, slots=True)
class Row:
    title: str
    panels: list[Panel]


@dataclass(frozen=True, slots=True)
class SqlVariable:
    """A single-value query variable; Grafana interpolates `$name` / `${name}` unquoted."""

    name: str
    label: str
    sql: str

    def to_json(self) -> JSON:
        sql = _dedent(self.sql)
        return {
            "name": self.name,
            "label": self.label,
            "type": "query",
            "datasource": POSTGRES.ref(),
            "query": sql,
            "definition": sql,
            "refresh": 1,
            "multi": False,
            "includeAll": False,
            "sort": 0,
            "hide": 0,
            "current": {},
            "options": [],
        }


@dataclass(frozen=True, slots=True)
class PromVariable:
    """A multi-value variable of label values; 'All' matches any value (`.*`)."""

    name: str
    label: str
    expr: str
    """label_values(<series>, <label>)"""

    def to_json(self) -> JSON:
        return {
            "name": self.name,
            "label": self.label,
            "type": "query",
            "datasource": PROMETHEUS.ref(),
            "query": {"qryType": 1, "query": self.expr, "refId": "PrometheusVariableQueryEditor"},
            "definition": self.expr,
            "refresh": 2,
            "multi": True,
            "includeAll": True,
            "allValue": ".*",
            "sort": 1,
            "hide": 0,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": [],
        }


Variable = SqlVariable | PromVariable


@dataclass(frozen=True, slots=True)
class SqlAnnotation:
    """Events from SQL: columns `time`, `text` and optionally `timeend`, `tags`."""

    name: str
    sql: str
    color: str = "orange"

    def to_json(self) -> JSON:
        sql = _dedent(self.sql)
        return {
            "name": self.name,
            "datasource": POSTGRES.ref(),
            "enable": True,
            "hide": False,
            "iconColor": self.color,
            "rawQuery": sql,
            "target": {
                "refId": "Anno",
                "datasource": POSTGRES.ref(),
                "editorMode": "code",
                "format": "table",
                "rawQuery": True,
                "rawSql": sql,
            },
        }


_BUILTIN_ANNOTATION: JSON = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


@dataclass(frozen=True, slots=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: list[Row]
    time_from: str = "now-90d"
    refresh: str = ""
    variables: list[Variable] = field(default_factory=list)
    annotations: list[SqlAnnotation] = field(default_factory=list)
    tags: tuple[str, ...] = ("myhealth",)

    def to_json(self) -> JSON:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "timezone": "utc",
            "editable": False,
            "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "time": {"from": self.time_from, "to": "now"},
            "timepicker": {},
            "refresh": self.refresh,
            "fiscalYearStartMonth": 0,
            "liveNow": False,
            "weekStart": "",
            "links": [
                {
                    "type": "dashboards",
                    "title": "myHealth",
                    "tags": ["myhealth"],
                    "asDropdown": True,
                    "includeVars": True,
                    "keepTime": True,
                }
            ],
            "templating": {"list": [v.to_json() for v in self.variables]},
            "annotations": {
                "list": [_BUILTIN_ANNOTATION, *(a.to_json() for a in self.annotations)]
            },
            "panels": self._layout(),
        }

    def _layout(self) -> list[JSON]:
        panels: list[JSON] = []
        y = 0
        for row in self.rows:
            panels.append(_row_json(len(panels) + 1, row.title, y))
            y += 1
            x = 0
            row_height = 0
            for panel in row.panels:
                if x + panel.width > GRID_COLUMNS:
                    x, y, row_height = 0, y + row_height, 0
                panels.append(panel.to_json(len(panels) + 1, x, y))
                x += panel.width
                row_height = max(row_height, panel.height)
            y += row_height
        return panels


def _row_json(panel_id: int, title: str, y: int) -> JSON:
    return {
        "id": panel_id,
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"h": 1, "w": GRID_COLUMNS, "x": 0, "y": y},
        "panels": [],
    }


def _dedent(text: str) -> str:
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return "\n".join(line[cut:] for line in lines).strip()
