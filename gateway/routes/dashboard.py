"""`GET /api/dashboard`: latest scores, 7- and 30-day averages and changes, active trend flags
and sync status, in one prepared query, cached per process until the user's data changes."""

from __future__ import annotations

import asyncio
from datetime import date
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import Response

from gateway.deps import CurrentUserId, Reads, ReadsDep
from gateway.metrics import CACHE_HITS
from gateway.models import Dashboard
from gateway.repositories.dashboard import render_dashboard
from gateway.routes import error_responses
from gateway.routes.params import today

router = APIRouter(prefix="/api", tags=["dashboard"])


async def _compute(reads: Reads, user_id: UUID, as_of: date) -> bytes:
    epoch = reads.cache.epoch
    body = (await render_dashboard(reads.pool, user_id=user_id, as_of=as_of)).encode()
    reads.cache.remember_dashboard(user_id, as_of, body, epoch)
    return body


async def _load(reads: Reads, user_id: UUID, as_of: date) -> bytes:
    """One query per user at a time: concurrent misses wait for the same answer."""
    loading = reads.cache.loading
    future = loading.get(user_id)
    if future is None:
        future = asyncio.ensure_future(_compute(reads, user_id, as_of))
        loading[user_id] = future
        future.add_done_callback(lambda _: loading.pop(user_id, None))
    return await asyncio.shield(future)


@router.get("/dashboard", response_model=Dashboard, responses=error_responses(401))
async def read_dashboard(user_id: CurrentUserId, reads: ReadsDep) -> Response:
    """Scores (sleep, readiness, activity, steps): latest value, mean of the last 7 and 30 days
    and the change against the 7 and 30 days before; trend flags of the last 7 days; sync
    status."""
    as_of = today()
    body = reads.cache.dashboard(user_id, as_of)
    if body is not None:
        CACHE_HITS.labels("dashboard").inc()
    else:
        body = await _load(reads, user_id, as_of)
    return Response(body, media_type="application/json")
