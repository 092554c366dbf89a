"""Oura's webhook subscription API (OURA_API_V2.md §4.1-4.2) under /v2/webhook/subscription,
authenticated with the app's `x-client-id` / `x-client-secret` headers.

Choices where Oura is unconfirmed or silent, so clients see one clear behaviour:
* create (and an update that changes callback_url) blocks on the verification handshake; when the
  callback does not answer 2xx with JSON `{"challenge": <the same value>}` the call fails with
  400 `{"detail": "Webhook verification failed: ..."}` and nothing is stored or changed;
* missing or wrong client credentials: 401; a second subscription for the same
  (event_type, data_type): 409 naming the existing one; unknown ids (or another app's): 403;
* renew and update do not re-verify unless the callback_url changes."""

from __future__ import annotations

import logging
import secrets
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, Field

from oura_simulator.query import ApiError
from oura_simulator.state import Simulator
from oura_simulator.subscriptions import SlotTaken, Subscription
from schemas.webhooks import EventType, OuraDataType

log = logging.getLogger(__name__)
PREFIX = "/v2/webhook/subscription"


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("callback_url must be an absolute http(s) URL")
    return value


CallbackUrl = Annotated[str, AfterValidator(_http_url)]


class CreateWebhookSubscriptionRequest(BaseModel):
    callback_url: CallbackUrl
    verification_token: str = Field(min_length=1)
    event_type: EventType
    data_type: OuraDataType


class UpdateWebhookSubscriptionRequest(BaseModel):
    verification_token: str = Field(min_length=1)
    callback_url: CallbackUrl | None = None
    event_type: EventType | None = None
    data_type: OuraDataType | None = None


class VerificationFailed(Exception):
    pass


async def verify_callback(url: str, verification_token: str, timeout_s: float) -> None:
    """Oura's handshake: GET the callback with the token and a fresh challenge; it must answer
    2xx with JSON {"challenge": <the same challenge>}."""
    challenge = secrets.token_urlsafe(24)
    params = {"verification_token": verification_token, "challenge": challenge}
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as http:
            response = await http.get(url, params=params)
    except httpx.TimeoutException:
        raise VerificationFailed(f"the callback did not answer within {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise VerificationFailed(
            f"the callback could not be reached ({type(exc).__name__})"
        ) from None
    if not 200 <= response.status_code < 300:
        raise VerificationFailed(f"the callback answered {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        raise VerificationFailed("the callback's answer is not JSON") from None
    if not isinstance(answer, dict) or answer.get("challenge") != challenge:
        raise VerificationFailed("the callback did not echo the challenge")


def client_id(
    request: Request,
    x_client_id: Annotated[str | None, Header()] = None,
    x_client_secret: Annotated[str | None, Header()] = None,
) -> str:
    """The app calling, from its `x-client-id` / `x-client-secret` headers (401 otherwise)."""
    sim: Simulator = request.app.state.simulator
    try:
        known = x_client_id is not None and secrets.compare_digest(
            sim.client_secret(x_client_id), x_client_secret or ""
        )
    except KeyError:
        known = False
    if not known or x_client_id is None:
        raise ApiError(401, {"detail": "Invalid or missing x-client-id / x-client-secret."})
    return x_client_id


Client = Annotated[str, Depends(client_id)]


def webhook_router(sim: Simulator) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["webhooks"])

    def owned(client: str, subscription_id: str) -> Subscription:
        found = sim.subscriptions.get(client, subscription_id)
        if found is None:
            raise ApiError(403, {"detail": "Unknown subscription id."})
        return found

    async def verified(url: str, token: str) -> None:
        try:
            await verify_callback(url, token, sim.config.webhook_verify_timeout_s)
        except VerificationFailed as exc:
            log.info("webhook verification failed", extra={"reason": str(exc)})
            raise ApiError(400, {"detail": f"Webhook verification failed: {exc}."}) from None

    @router.get("")
    async def list_subscriptions(client: Client) -> list[dict[str, Any]]:
        return [s.model() for s in sim.subscriptions.all(client)]

    @router.post("", status_code=201)
    async def create(client: Client, body: CreateWebhookSubscriptionRequest) -> dict[str, Any]:
        url = body.callback_url
        taken = _slot_owner(sim, client, body.event_type, body.data_type)
        if taken is not None:
            raise _conflict(taken)
        await verified(url, body.verification_token)
        try:
            created = sim.subscriptions.create(
                client,
                callback_url=url,
                event_type=body.event_type,
                data_type=body.data_type,
                verification_token=body.verification_token,
                now=sim.clock.now(),
            )
        except SlotTaken as exc:  # a concurrent create won the slot during the handshake
            raise _conflict(exc.existing) from None
        log.info(
            "webhook subscription created",
            extra={"event_type": created.event_type, "data_type": created.data_type},
        )
        return created.model()

    @router.get("/{subscription_id}")
    async def read(client: Client, subscription_id: str) -> dict[str, Any]:
        return owned(client, subscription_id).model()

    @router.put("/renew/{subscription_id}")
    async def renew(client: Client, subscription_id: str) -> dict[str, Any]:
        try:
            return sim.subscriptions.renew(owned(client, subscription_id), sim.clock.now()).model()
        except KeyError:
            raise ApiError(403, {"detail": "Unknown subscription id."}) from None

    @router.put("/{subscription_id}")
    async def update(
        client: Client, subscription_id: str, body: UpdateWebhookSubscriptionRequest
    ) -> dict[str, Any]:
        current = owned(client, subscription_id)
        changes: dict[str, Any] = {"verification_token": body.verification_token}
        for name in ("event_type", "data_type"):
            if getattr(body, name) is not None:
                changes[name] = getattr(body, name)
        if body.callback_url is not None and body.callback_url != current.callback_url:
            await verified(body.callback_url, body.verification_token)
            changes["callback_url"] = body.callback_url
        try:
            return sim.subscriptions.update(current, **changes).model()
        except SlotTaken as exc:
            raise _conflict(exc.existing) from None
        except KeyError:
            raise ApiError(403, {"detail": "Unknown subscription id."}) from None

    @router.delete("/{subscription_id}", status_code=204)
    async def delete(client: Client, subscription_id: str) -> Response:
        sim.subscriptions.delete(owned(client, subscription_id).id)
        return Response(status_code=204)

    return router


def _slot_owner(
    sim: Simulator, client: str, event_type: str, data_type: str
) -> Subscription | None:
    return next(
        (
            s
            for s in sim.subscriptions.all(client)
            if s.event_type == event_type and s.data_type == data_type
        ),
        None,
    )


def _conflict(existing: Subscription) -> ApiError:
    return ApiError(
        409,
        {
            "detail": f"A subscription for {existing.event_type} {existing.data_type} events "
            f"already exists ({existing.id}); update, renew or delete it instead.",
        },
    )
