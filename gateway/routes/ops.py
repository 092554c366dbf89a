"""Operations: liveness and readiness (database and Kafka). Prometheus metrics have their own
port (gateway.metrics.serve_metrics)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from gateway.deps import ReadinessDep
from gateway.models import Health, Readiness
from schemas.db import Queries, labelled
from schemas.settings import KafkaSettings

router = APIRouter(tags=["operations"])
log = logging.getLogger("gateway.ops")
_HEALTH = b'{"status":"ok"}'


@router.get("/health", response_model=Health)
async def health() -> Response:
    """Liveness: the process answers."""
    return Response(_HEALTH, media_type="application/json")


async def _check_database(pool: Queries) -> str:
    pool = labelled(pool, "check_database")
    try:
        await asyncio.wait_for(pool.fetchval("SELECT 1"), 2.0)
    except Exception as exc:  # any failure means not ready; the reason goes to the log
        log.warning("readiness: database unreachable", extra={"error": repr(exc)})
        return "unreachable"
    return "ok"


async def _check_kafka(kafka: KafkaSettings) -> str:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**kafka.client_kwargs(), request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 4.0)
        await asyncio.wait_for(admin.describe_cluster(), 3.0)
    except Exception as exc:  # any failure means not ready; the reason goes to the log
        log.warning("readiness: kafka unreachable", extra={"error": repr(exc)})
        return "unreachable"
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(admin.close(), 2.0)
    return "ok"


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is unreachable"}},
)
async def ready(readiness: ReadinessDep) -> JSONResponse:
    """Readiness: PostgreSQL answers a query and the Kafka cluster answers metadata. Cached for
    GATEWAY_READY_CACHE_S so probes cannot hammer the dependencies."""
    cached = readiness.answer
    if cached is not None and cached[0] > time.monotonic():
        checks = cached[1]
    else:
        database, kafka = await asyncio.gather(
            _check_database(readiness.pool), _check_kafka(readiness.kafka)
        )
        checks = {"database": database, "kafka": kafka}
        readiness.answer = (time.monotonic() + readiness.cache_s, checks)
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ok else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)
