"""Prometheus metrics: requests by route template, method and status; latency; DB pool use and
query latency (observed by gateway.db.TimedPool).

A pure ASGI middleware (not BaseHTTPMiddleware) so measuring costs microseconds. With several
uvicorn workers in one container set PROMETHEUS_MULTIPROC_DIR: /metrics then aggregates every
worker's numbers."""

from __future__ import annotations

import os
import time
from typing import Any

import asyncpg
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from starlette.types import Message, Receive, Scope, Send

from gateway.asgi import HttpMiddleware

REQUESTS = Counter(
    "gateway_requests_total",
    "HTTP requests by route template, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "gateway_request_duration_seconds",
    "HTTP request latency by route template",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DB_POOL_IN_USE = Gauge(
    "gateway_db_pool_connections_in_use",
    "asyncpg pool connections checked out",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "gateway_db_pool_connections", "asyncpg pool connections open", multiprocess_mode="livesum"
)
DB_POOL_MAX = Gauge(
    "gateway_db_pool_connections_max",
    "asyncpg pool size limit (GATEWAY_DB_POOL_MAX)",
    multiprocess_mode="livesum",
)
DB_QUERY_DURATION = Histogram(
    "gateway_db_query_duration_seconds",
    "Database query latency by the gateway function that issued the query",
    ["query"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
CACHE_HITS = Counter("gateway_cache_hits_total", "Per-process cache hits", ["cache"])
LOGIN_FAILURES = Counter("gateway_login_failures_total", "Failed logins by reason", ["reason"])
# The Oura webhook receiver (gateway.routes.webhooks).
WEBHOOK_REQUESTS = Counter(
    "gateway_webhook_requests_total",
    "Requests to the Oura webhook receiver by kind (handshake or event)",
    ["kind"],
)
WEBHOOK_ACCEPTED = Counter(
    "gateway_webhook_events_accepted_total",
    "Verified webhook events published to oura.webhook.events (data_type 'other': a type the"
    " platform does not collect)",
    ["event_type", "data_type"],
)
WEBHOOK_REJECTED = Counter(
    "gateway_webhook_rejected_total",
    "Webhook handshakes and deliveries refused, by reason",
    ["reason"],
)


def track_pool(pool: asyncpg.Pool) -> None:
    """Point the pool gauges at a live pool (read when scraped)."""
    DB_POOL_IN_USE.set_function(lambda: pool.get_size() - pool.get_idle_size())
    DB_POOL_SIZE.set_function(lambda: pool.get_size())
    DB_POOL_MAX.set_function(lambda: pool.get_max_size())


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def render_metrics() -> tuple[bytes, str]:
    return generate_latest(_registry()), CONTENT_TYPE_LATEST


def serve_metrics(host: str, port: int) -> Any:
    """Serve /metrics on its own port from a thread of the process that starts the workers
    (with several workers, PROMETHEUS_MULTIPROC_DIR makes it aggregate theirs); the API port
    has no /metrics."""
    server, _thread = start_http_server(port, addr=host, registry=_registry())
    return server


class MetricsMiddleware(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            REQUESTS.labels(template, method, str(status)).inc()
            LATENCY.labels(template, method).observe(time.perf_counter() - started)
