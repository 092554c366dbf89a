"""Score charts as inline SVG, drawn on the server: no script, no chart library, and readable by
screen readers (a title and a description that says what the lines show)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 36, 12, 12, 24
GRID = (25, 50, 75, 100)


@dataclass(frozen=True, slots=True)
class Point:
    day: date
    value: float | None
    mean_7d: float | None
    flag: bool
    in_progress: bool


def _x(day: date, start: date, days: int) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * (day - start).days / max(days - 1, 1)


def _y(value: float) -> float:
    clamped = min(max(value, 0.0), 100.0)
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - clamped / 100)


def _path(points: Sequence[tuple[date, float]], start: date, days: int) -> str:
    """Line segments that break where a day is missing, rather than bridging the gap."""
    parts: list[str] = []
    previous: date | None = None
    for day, value in points:
        command = "L" if previous is not None and (day - previous).days == 1 else "M"
        parts.append(f"{command}{_x(day, start, days):.1f},{_y(value):.1f}")
        previous = day
    return " ".join(parts)


def _axes(start: date, end: date, days: int) -> list[str]:
    out = []
    for level in GRID:
        y = _y(level)
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        out.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{level}</text>'
        )
    bottom = HEIGHT - 6
    out.append(f'<text class="axis" x="{LEFT}" y="{bottom}">{start.isoformat()}</text>')
    out.append(
        f'<text class="axis" x="{WIDTH - RIGHT}" y="{bottom}" text-anchor="end">'
        f"{end.isoformat()}</text>"
    )
    return out


def describe(label: str, points: Sequence[Point], days: int) -> str:
    values = [p.value for p in points if p.value is not None]
    if not values:
        return f"{label}: no data in the last {days} days."
    flagged = sum(p.flag for p in points)
    latest = next(p for p in reversed(points) if p.value is not None)
    mean = next((p.mean_7d for p in reversed(points) if p.mean_7d is not None), None)
    text = f"{label}, last {days} days: latest {latest.value:.0f} on {latest.day.isoformat()}"
    if mean is not None:
        text += f", 7-day mean {mean:.1f}"
    return text + f", {flagged} flagged day{'s' if flagged != 1 else ''}."


def score_chart(
    chart_id: str, label: str, points: Sequence[Point], start: date, end: date
) -> Markup:
    """The day's score (thin line), its 7-day mean (thick line) and flagged days (red dots)."""
    days = (end - start).days + 1
    values = [(p.day, p.value) for p in points if p.value is not None and not p.in_progress]
    means = [(p.day, p.mean_7d) for p in points if p.mean_7d is not None]
    body = _axes(start, end, days)
    body.append(f'<path class="value" d="{_path(values, start, days)}"/>')
    body.append(f'<path class="mean" d="{_path(means, start, days)}"/>')
    for p in points:
        if p.flag and p.value is not None:
            body.append(
                f'<circle class="flag" cx="{_x(p.day, start, days):.1f}" cy="{_y(p.value):.1f}" '
                f'r="4"><title>{p.day.isoformat()}: {p.value:.0f} (flagged)</title></circle>'
            )
    title, desc = f"{chart_id}-title", f"{chart_id}-desc"
    return Markup(
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{title} {desc}"><title id="{title}">{escape(label)}</title>'
        f'<desc id="{desc}">{escape(describe(label, points, days))}</desc>{"".join(body)}</svg>'
    )
