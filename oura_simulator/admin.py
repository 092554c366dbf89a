"""Test and operator controls under /_sim/ (never part of Oura's API): faults, users, tokens,
revisions, the clock, data quirks and patches, statistics, the exact documents the API serves,
ring syncs and deletions (which fire webhooks), webhook knobs and the delivery log."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from oura_simulator.query import ApiError
from oura_simulator.quirks import Patch
from oura_simulator.state import Simulator
from schemas.data_types import BY_NAME, DATA_TYPES, DataType


class RateLimitBurstIn(BaseModel):
    count: int = Field(ge=1)
    retry_after: int = Field(default=1, ge=0)
    tier: str = "application"
    scope: Literal["data", "oauth", "all"] = "data"
    user: str | None = None


class ServerErrorBurstIn(BaseModel):
    count: int = Field(ge=1)
    status: int = Field(default=503, ge=500, le=599)
    scope: Literal["data", "oauth", "all"] = "data"
    user: str | None = None


class MalformedIn(BaseModel):
    count: int = Field(ge=1)
    kind: Literal["invalid_json", "missing_data"] = "invalid_json"
    user: str | None = None


class FaultsIn(BaseModel):
    clear: bool = False
    """Applied first, so one call can reset and set."""
    rate_limit_burst: RateLimitBurstIn | None = None
    server_error_burst: ServerErrorBurstIn | None = None
    malformed_pages: MalformedIn | None = None
    latency_s: float | None = Field(default=None, ge=0)
    latency_scope: Literal["data", "oauth", "all"] = "data"
    revoke_user: str | None = None
    expire_tokens: str | None = None
    scopes: dict[str, list[str]] | None = None
    """Per-user granted scopes (login -> scopes), effective immediately."""


class UserIn(BaseModel):
    login: str = Field(min_length=1)
    scopes: list[str] | None = None
    data_since: date | None = None
    tz_offset_min: int | None = Field(default=None, ge=-720, le=840)
    email: str | None = None


class TokensIn(BaseModel):
    user: str = "demo"
    scopes: list[str] | None = None


class RevisionIn(BaseModel):
    user: str | None = None
    by: int = Field(default=1, ge=1)


class DataQuirksIn(BaseModel):
    enabled: bool = True
    user: str | None = None
    """One user; without it, the default of every user (and per-user settings are dropped)."""


class PatchIn(BaseModel):
    """Sets and removes top-level fields of the documents one user is served for one type and
    day, e.g. {"data_type": "daily_sleep", "day": "2026-03-14", "set": {"score": "81"}}."""

    model_config = ConfigDict(populate_by_name=True)

    user: str = "demo"
    data_type: str
    day: date
    set_fields: dict[str, Any] = Field(default_factory=dict, alias="set")
    unset: list[str] = Field(default_factory=list)


class SyncIn(BaseModel):
    users: list[str] | None = None
    """Logins whose ring syncs (default: every user)."""
    data_types: list[str] | None = None
    """What the sync changes (default: a new session and today's activity revised)."""


class WebhookSettingsIn(BaseModel):
    drop_probability: float | None = Field(default=None, ge=0, le=1)
    duplicate_probability: float | None = Field(default=None, ge=0, le=1)
    max_retries: int | None = Field(default=None, ge=0)
    retry_base_s: float | None = Field(default=None, ge=0)
    timeout_s: float | None = Field(default=None, gt=0)
    delay_s: float | None = Field(default=None, ge=0)
    subscription_ttl_s: float | None = Field(default=None, gt=0)
    """Lifetime of subscriptions created or renewed from now on."""


class DeliveriesQuery(BaseModel):
    """The filters of the delivery log: each one given keeps the deliveries equal to it."""

    user: str | None = None
    subscription_id: str | None = None
    outcome: str | None = None
    object_id: str | None = None
    data_type: str | None = None
    event_type: str | None = None


class ClockIn(BaseModel):
    advance_s: float | None = None
    now: datetime | None = None


def _loopback_only(request: Request) -> None:
    """The controls rewrite users, tokens and faults: only a caller on this machine may use
    them, whatever address the simulator listens on."""
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ApiError(403, {"detail": "The simulator's controls answer loopback callers only."})


def _type(name: str) -> DataType:
    found = BY_NAME.get(name) or next((t for t in DATA_TYPES if t.path == name), None)
    if found is None:
        raise ApiError(404, {"detail": f"Unknown data type {name!r}."})
    return found


def _known(sim: Simulator, login: str) -> str:
    if not sim.has_user(login):
        raise ApiError(404, {"detail": f"Unknown simulated user {login!r}."})
    return login


_DELIVERY = (
    "max_retries",
    "retry_base_s",
    "timeout_s",
    "delay_s",
    "drop_probability",
    "duplicate_probability",
)
"""The delivery settings /_sim/webhooks shows and changes: SimulatorConfig's `webhook_<name>`,
which the dispatcher reads at each delivery."""


def _webhooks_json(sim: Simulator) -> dict[str, Any]:
    now = sim.clock.now()
    return {
        "settings": {
            **{name: getattr(sim.config, f"webhook_{name}") for name in _DELIVERY},
            "subscription_ttl_s": sim.subscriptions.ttl_s,
        },
        "subscriptions": [
            {**s.model(), "client_id": s.client_id, "active": s.active(now)}
            for s in sim.subscriptions.all()
        ],
        "pending_deliveries": sim.webhooks.pending(),
    }


def admin_router(sim: Simulator) -> APIRouter:
    router = APIRouter(prefix="/_sim", dependencies=[Depends(_loopback_only)])

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        return sim.stats()

    @router.post("/stats/reset")
    async def reset_stats() -> dict[str, Any]:
        sim.reset_stats()
        return sim.stats()

    @router.get("/faults")
    async def get_faults() -> dict[str, Any]:
        return sim.faults.snapshot()

    @router.delete("/faults")
    async def clear_faults() -> dict[str, Any]:
        sim.faults.clear()
        return sim.faults.snapshot()

    @router.post("/faults")
    async def set_faults(body: FaultsIn) -> dict[str, Any]:
        for login in filter(None, [body.revoke_user, body.expire_tokens, *(body.scopes or {})]):
            _known(sim, login)
        faults = sim.faults
        if body.clear:
            faults.clear()
        if body.rate_limit_burst:
            b = body.rate_limit_burst
            faults.rate_limit_burst(
                b.count, retry_after=b.retry_after, tier=b.tier, scope=b.scope, user=b.user
            )
        if body.server_error_burst:
            e = body.server_error_burst
            faults.server_error_burst(e.count, status=e.status, scope=e.scope, user=e.user)
        if body.malformed_pages:
            m = body.malformed_pages
            faults.malformed_pages(m.count, kind=m.kind, user=m.user)
        if body.latency_s is not None:
            faults.latency(body.latency_s, scope=body.latency_scope)
        if body.revoke_user:
            sim.revoke_user(body.revoke_user)
        if body.expire_tokens:
            sim.expire_tokens(body.expire_tokens)
        for login, scopes in (body.scopes or {}).items():
            try:
                sim.set_scopes(login, scopes)
            except ValueError as exc:
                raise ApiError(422, {"detail": str(exc)}) from None
        return faults.snapshot()

    @router.get("/data-quirks")
    async def get_data_quirks() -> dict[str, Any]:
        return sim.data_quirks.snapshot()

    @router.post("/data-quirks")
    async def set_data_quirks(body: DataQuirksIn) -> dict[str, Any]:
        if body.user is not None:
            _known(sim, body.user)
        sim.data_quirks.set_enabled(body.user, body.enabled)
        return sim.data_quirks.snapshot()

    @router.post("/patches", status_code=201)
    async def add_patch(body: PatchIn) -> dict[str, Any]:
        data_type = _type(body.data_type)
        patch = Patch(dict(body.set_fields), tuple(body.unset))
        sim.data_quirks.patch(_known(sim, body.user), data_type.name, body.day, patch)
        return sim.data_quirks.snapshot()

    @router.delete("/patches")
    async def clear_patches() -> dict[str, Any]:
        sim.data_quirks.clear_patches()
        return sim.data_quirks.snapshot()

    @router.get("/users")
    async def list_users() -> dict[str, Any]:
        return {"data": [sim.user_json(u.login) for u in sim.users()]}

    @router.post("/users", status_code=201)
    async def create_user(body: UserIn) -> dict[str, Any]:
        try:
            sim.add_user(
                body.login,
                scopes=body.scopes,
                data_since=body.data_since,
                tz_offset_min=body.tz_offset_min,
                email=body.email,
            )
        except ValueError as exc:
            status = 409 if "already exists" in str(exc) else 422
            raise ApiError(status, {"detail": str(exc)}) from None
        return sim.user_json(body.login)

    @router.get("/users/{login}")
    async def get_user(login: str) -> dict[str, Any]:
        return sim.user_json(_known(sim, login))

    @router.post("/tokens")
    async def issue_tokens(body: TokensIn) -> dict[str, Any]:
        return sim.issue_tokens(_known(sim, body.user), body.scopes)

    @router.post("/revisions")
    async def bump_revision(body: RevisionIn) -> dict[str, Any]:
        if body.user:
            _known(sim, body.user)
        sim.bump_revision(body.user, body.by)
        return {"revisions": {u.login: sim.revision(u.login) for u in sim.users()}}

    @router.get("/clock")
    async def get_clock() -> dict[str, Any]:
        return {"now": sim.clock.now().isoformat(), "today": sim.clock.today().isoformat()}

    @router.post("/clock")
    async def set_clock(body: ClockIn) -> dict[str, Any]:
        if body.now is not None:
            if body.now.tzinfo is None:
                raise ApiError(422, {"detail": "now needs a UTC offset"})
            sim.clock.set(body.now)
        if body.advance_s:
            sim.clock.advance(body.advance_s)
        return {"now": sim.clock.now().isoformat(), "today": sim.clock.today().isoformat()}

    @router.get("/documents/{type_name}")
    async def documents(
        type_name: str,
        user: str = "demo",
        start_date: date | None = None,
        end_date: date | None = None,
    ) -> JSONResponse:
        data_type = _type(type_name)
        docs = sim.documents(_known(sim, user), data_type.name, start_date, end_date)
        return JSONResponse({"data": docs, "next_token": None})

    @router.delete("/documents/{type_name}/{document_id}")
    async def delete_document(
        type_name: str, document_id: str, user: str = "demo"
    ) -> dict[str, Any]:
        data_type = _type(type_name)
        try:
            return sim.delete_document(_known(sim, user), data_type.name, document_id)
        except LookupError as exc:
            raise ApiError(404, {"detail": str(exc)}) from None

    @router.post("/sync")
    async def sync(body: SyncIn) -> dict[str, Any]:
        for login in body.users or []:
            _known(sim, login)
        try:
            # Off the event loop: a sync of many users must not stall the data routes.
            changes = await asyncio.to_thread(sim.sync, body.users, body.data_types)
        except ValueError as exc:
            raise ApiError(422, {"detail": str(exc)}) from None
        return {"changes": changes}

    @router.get("/webhooks")
    async def webhooks() -> dict[str, Any]:
        return _webhooks_json(sim)

    @router.post("/webhooks")
    async def set_webhooks(body: WebhookSettingsIn) -> dict[str, Any]:
        for name, value in body.model_dump(exclude_none=True).items():
            if name == "subscription_ttl_s":
                sim.subscriptions.ttl_s = value
            else:
                setattr(sim.config, f"webhook_{name}", value)
        return _webhooks_json(sim)

    @router.get("/webhooks/deliveries")
    async def deliveries(match: Annotated[DeliveriesQuery, Query()]) -> dict[str, Any]:
        return {"data": sim.webhooks.deliveries(**match.model_dump())}

    @router.delete("/webhooks/deliveries")
    async def clear_deliveries() -> dict[str, Any]:
        sim.webhooks.clear_log()
        return {"data": []}

    @router.get("/truth")
    async def truth(start_date: date, end_date: date, user: str = "demo") -> dict[str, Any]:
        return {"data": sim.truth(_known(sim, user), start_date, end_date)}

    return router
