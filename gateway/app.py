"""The application factory: `create_app(settings) -> FastAPI`, with an asyncpg pool opened in the
lifespan (wrapped by gateway.db.TimedPool, which times every query)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import pages
from gateway.cache import InvalidationListener, UserCache
from gateway.db import TimedPool
from gateway.deps import Accounts, Connections, Exports, Readiness, Reads, Webhooks
from gateway.erasure import Eraser
from gateway.errors import install_error_handlers
from gateway.headers import SecurityHeaders
from gateway.metrics import MetricsMiddleware, track_pool
from gateway.producer import SharedProducer
from gateway.purge import purge_periodically
from gateway.routes import (
    accounts,
    dashboard,
    data,
    erasures,
    export,
    oauth,
    ops,
    sessions,
    trends,
    webhooks,
)
from gateway.security.passwords import Passwords
from gateway.security.throttle import AuthThrottle
from gateway.settings import GatewaySettings
from gateway.sync_status import refresh_periodically
from gateway.webhooks import EventPublisher
from oura_connection import OuraOAuthClient, TokenCipher
from schemas.db import open_pool
from schemas.settings import DatabaseSettings, KafkaSettings

log = logging.getLogger("gateway")

DESCRIPTION = """Own your Oura Ring data.

Register and log in for a bearer token (`POST /api/register`, `POST /api/login`), connect Oura
(`GET /api/oauth/authorize` answers a link to open in a browser, which signs in as the same
account before Oura's consent; people can use the web pages at `/` for all of it), then read
every collected data type, trends, a dashboard summary or a full export.
Every error has the shape `{"detail": "...", "code": "..."}`."""


class BodySizeLimit:
    """Answer 413 to a request body above `max_bytes`, whether or not it declares its length."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            {
                "detail": f"request body larger than {self.max_bytes} bytes",
                "code": "payload_too_large",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _timeouts(statement_s: float, idle_in_transaction_s: float) -> dict[str, str]:
    """Server-side limits for every session of a pool, in milliseconds."""
    return {
        "statement_timeout": str(int(statement_s * 1000)),
        "idle_in_transaction_session_timeout": str(int(idle_in_transaction_s * 1000)),
    }


def create_app(
    settings: GatewaySettings,
    *,
    database: DatabaseSettings | None = None,
    kafka: KafkaSettings | None = None,
) -> FastAPI:
    """Build the gateway. Database and Kafka settings default to the environment (DB_*,
    KAFKA_*)."""
    db = database or DatabaseSettings()
    kafka_settings = kafka or KafkaSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raw_pool = await open_pool(
            db,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            server_settings=_timeouts(
                settings.db_statement_timeout_s, settings.db_idle_in_transaction_timeout_s
            ),
        )
        # Exports stream at their reader's pace: their own small pool, so they cannot take
        # the connections every other request needs.
        export_pool = await open_pool(
            db,
            min_size=0,
            max_size=settings.export_pool_max,
            server_settings=_timeouts(
                settings.export_statement_timeout_s, settings.export_idle_timeout_s
            ),
        )
        track_pool(raw_pool)
        pool = TimedPool(raw_pool, acquire_timeout_s=settings.db_acquire_timeout_s)
        cache = UserCache(settings.cache_ttl_s)
        listener = InvalidationListener(cache, db.asyncpg_kwargs())
        keys = settings.token_encryption_keys.get_secret_value().strip()
        shared_producer = SharedProducer(kafka_settings)
        eraser = Eraser(pool, shared_producer, stall_s=settings.erasure_stall_timeout_s)
        oauth = OuraOAuthClient(settings)
        app.state.kafka = kafka_settings
        # Each route family's share (gateway.deps): what its routes may use.
        app.state.accounts = Accounts(
            settings=settings,
            pool=pool,
            cache=cache,
            passwords=Passwords(
                settings.bcrypt_rounds,
                concurrency=settings.hash_concurrency,
                queue=settings.hash_queue,
            ),
            throttle=AuthThrottle(settings),
            eraser=eraser,
        )
        app.state.connections = Connections(
            settings=settings,
            pool=pool,
            cache=cache,
            oauth=oauth,
            cipher=TokenCipher.from_keys(keys) if keys else None,
        )
        app.state.reads = Reads(pool, cache, settings.default_range_days, settings.max_range_days)
        app.state.webhooks = Webhooks(pool, settings)
        app.state.exports = Exports(TimedPool(export_pool), settings.export_acquire_timeout_s)
        app.state.readiness = Readiness(pool, kafka_settings, settings.ready_cache_s)
        await listener.start()
        refresher = asyncio.create_task(
            refresh_periodically(pool, settings.sync_status_interval_s),
            name="sync-status",
        )
        upkeep = [
            asyncio.create_task(shared_producer.warm_up(), name="kafka-producer"),
            asyncio.create_task(
                eraser.resume_periodically(settings.erasure_retry_interval_s), name="erasures"
            ),
            asyncio.create_task(purge_periodically(pool, settings), name="purge"),
        ]
        app.state.webhook_publisher = (
            EventPublisher(shared_producer) if settings.webhooks_enabled else None
        )
        try:
            yield
        finally:
            for task in (refresher, *upkeep):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await eraser.stop()
            await shared_producer.stop()
            await listener.stop()
            await oauth.aclose()
            await export_pool.close()
            await raw_pool.close()

    app = FastAPI(
        title="myHealth gateway",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (ops, accounts, sessions, oauth, dashboard, data, trends, export, webhooks):
        app.include_router(module.router)
    app.include_router(erasures.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=Path(pages.__file__).parent.parent / "static"))
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(MetricsMiddleware)
    return app
