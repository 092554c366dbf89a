"""`GET /api/trends`: the processor's daily trends (rolling means, baseline, deviation, flags)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gateway.deps import CurrentUserId, ReadsDep
from gateway.models import TrendPage, TrendPoint
from gateway.routes import error_responses
from gateway.routes.params import WindowDep
from schemas.tables import trends as daily_trends

router = APIRouter(prefix="/api", tags=["trends"])
MAX_POINTS = 10_000


@router.get("/trends", responses=error_responses(401, 422))
async def list_trends(
    user_id: CurrentUserId,
    reads: ReadsDep,
    window: WindowDep,
    metric: Annotated[
        str | None,
        Query(
            max_length=512,
            pattern=r"^[a-z0-9_.]{1,64}(,[a-z0-9_.]{1,64})*$",
            description=(
                "Metric name(s), comma-separated, as the processor names them "
                "(e.g. daily_sleep.score,sleep.average_hrv); default all"
            ),
        ),
    ] = None,
) -> TrendPage:
    rows = await daily_trends.list_trends(
        reads.pool,
        user_id=user_id,
        metrics=metric.split(",") if metric else None,
        start=window.start,
        end=window.end,
        limit=MAX_POINTS,
    )
    return TrendPage(data=[TrendPoint(**row) for row in rows])
