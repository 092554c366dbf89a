"""The FastAPI app: OAuth, data, webhook-subscription and admin routers behind one middleware
that applies latency, injected bursts and the rate budget, and stamps X-RateLimit-* headers on
every data response."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from oura_simulator.admin import admin_router
from oura_simulator.config import SimulatorConfig
from oura_simulator.faults import Burst
from oura_simulator.oauth import oauth_error, oauth_router
from oura_simulator.query import ApiError
from oura_simulator.routes import bearer_token, data_router
from oura_simulator.state import Simulator
from oura_simulator.tokens import OAuthFailure
from oura_simulator.webhook_routes import webhook_router
from schemas.data_types import DATA_TYPES

log = logging.getLogger(__name__)
_DATA_PREFIX = "/v2/usercollection/"
_WEBHOOK_PREFIX = "/v2/webhook/"
_NAME_BY_PATH = {t.path: t.name for t in DATA_TYPES}
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def create_app(
    config: SimulatorConfig | None = None, simulator: Simulator | None = None
) -> FastAPI:
    """A fresh simulator app; its state is `app.state.simulator` (a `Simulator`)."""
    sim = simulator or Simulator(config)
    app = FastAPI(title="Oura simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.simulator = sim
    app.include_router(oauth_router(sim))
    app.include_router(data_router(sim))
    app.include_router(admin_router(sim))
    app.include_router(webhook_router(sim))

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(OAuthFailure)
    async def oauth_failure(request: Request, exc: OAuthFailure) -> Response:
        return oauth_error(exc)

    @app.middleware("http")
    async def faults_and_limits(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if path.startswith(_WEBHOOK_PREFIX):
            # App-level calls with client credentials: outside the data budget and its faults.
            return await call_next(request)
        if path.startswith("/v2/"):
            scope = "data"
        elif path.startswith("/oauth/") and path != "/oauth/authorize":
            # the consent page is a browser step; faults target the machine endpoints
            scope = "oauth"
        else:
            return await call_next(request)
        grant, _ = sim.authenticate(bearer_token(request)) if scope == "data" else (None, "")
        login = grant.login if grant else None
        delay = sim.faults.delay_for(scope)
        if delay:
            await asyncio.sleep(delay)
        now = sim.clock.timestamp()
        limit_headers: dict[str, str] = {}
        burst = sim.faults.take_burst(scope, login)
        if burst is not None:
            response = _burst_response(sim, burst, now)
        elif scope == "data":
            response, limit_headers = await _within_budget(
                sim, request, call_next, grant.client_id if grant else "anonymous", now
            )
        else:
            response = await call_next(request)
        if scope == "data":
            for name, value in limit_headers.items():
                response.headers.setdefault(name, value)
            type_path = path.removeprefix(_DATA_PREFIX).split("/", 1)[0]
            type_name = _NAME_BY_PATH.get(type_path, type_path)
            sim.count_data_request(login, type_name, response.status_code)
        log.debug(
            "request",
            extra={"method": request.method, "path": path, "status": response.status_code},
        )
        return response

    return app


def _limit_headers(sim: Simulator, remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(sim.config.rate_limit_requests),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Window": str(sim.config.rate_limit_window_s),
        "X-RateLimit-Reset": str(math.ceil(reset)),
    }


def _too_many(
    sim: Simulator, retry_after: int, tier: str, remaining: int, reset: float, limit: int
) -> Response:
    headers = _limit_headers(sim, remaining, reset)
    headers.update(
        {"Retry-After": str(retry_after), "X-RateLimit-Tier": tier, "X-RateLimit-Limit": str(limit)}
    )
    return JSONResponse(
        {"detail": f"Rate limit exceeded. Retry after {retry_after} seconds."},
        status_code=429,
        headers=headers,
    )


def _burst_response(sim: Simulator, burst: Burst, now: float) -> Response:
    if burst.status == 429:
        wait = burst.retry_after or 0
        return _too_many(sim, wait, burst.tier, 0, now + wait, sim.config.rate_limit_requests)
    reason = _REASONS.get(burst.status, "Server Error")
    return JSONResponse({"detail": reason}, status_code=burst.status)


async def _within_budget(
    sim: Simulator,
    request: Request,
    call_next: Callable[[Request], Awaitable[Response]],
    app_key: str,
    now: float,
) -> tuple[Response, dict[str, str]]:
    allowed, remaining, reset = sim.app_budget.hit(app_key, now)
    if not allowed:
        wait = max(1, math.ceil(sim.app_budget.retry_after(app_key, now)))
        limit = sim.config.rate_limit_requests
        return _too_many(sim, wait, "application", 0, reset, limit), {}
    token = bearer_token(request)
    if sim.token_budget is not None and token:
        # Keyed by a digest so raw tokens never sit in long-lived structures we might dump.
        key = hashlib.sha256(token.encode()).hexdigest()
        ok, _, token_reset = sim.token_budget.hit(key, now)
        if not ok:
            wait = max(1, math.ceil(sim.token_budget.retry_after(key, now)))
            return _too_many(sim, wait, "token", 0, token_reset, sim.token_budget.limit), {}
    response = await call_next(request)
    return response, _limit_headers(sim, remaining, reset)
