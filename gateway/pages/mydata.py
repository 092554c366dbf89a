"""My data: sleep, readiness and activity scores over 30, 90 or 365 days with their 7-day
trend and flagged days, as server-drawn SVG (one indexed query over daily_trends)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.pages.charts import Point, score_chart
from gateway.pages.render import answers, page, reads_of, signed_in
from schemas.tables import trends as daily_trends

router = APIRouter(include_in_schema=False)

PERIODS = (30, 90, 365)
SCORES = (
    ("daily_sleep.score", "Sleep score"),
    ("daily_readiness.score", "Readiness score"),
    ("daily_activity.score", "Activity score"),
)


@router.get("/data")
@answers
async def my_data(request: Request) -> Response:
    session = await signed_in(request)
    requested = request.query_params.get("days", "")
    days = int(requested) if requested in {str(p) for p in PERIODS} else PERIODS[0]
    end = datetime.now(UTC).date()
    start = end - timedelta(days=days - 1)
    rows = await daily_trends.list_trends(
        reads_of(request).pool,
        user_id=session.user_id,
        metrics=[metric for metric, _ in SCORES],
        start=start,
        end=end,
        limit=len(SCORES) * days,
    )
    by_metric: dict[str, list[Point]] = defaultdict(list)
    for r in rows:
        by_metric[r["metric"]].append(
            Point(r["day"], r["value"], r["mean_7d"], r["flag"], r["in_progress"])
        )
    charts = [
        {
            "label": label,
            "svg": score_chart(metric.replace(".", "-"), label, by_metric[metric], start, end),
            "flags": [p for p in by_metric[metric] if p.flag],
        }
        for metric, label in SCORES
    ]
    return page(request, "data.html", session, charts=charts, days=days, periods=PERIODS)
