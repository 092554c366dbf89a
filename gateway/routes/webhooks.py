"""Oura's webhook receiver: no bearer token or session (Oura calls it); a delivery proves
itself with Oura's signature instead.

`GET` answers the subscription's verification handshake. `POST` takes a delivery and, once it
is verified, puts one event per connected platform user on `oura.webhook.events` and answers
200; the collector's webhook fetcher does the rest.

Answers (never 410: Oura cancels a subscription that answers 410 Gone):
- 401 `not_verified` for a missing or wrong signature *and* for a verified event naming an Oura
  user no active connection has: the same answer, so that nothing tells an outsider which Oura
  users are connected (the metric and the log line tell operators apart).
- 401 `stale_timestamp` for an x-oura-timestamp (epoch seconds or milliseconds) missing or
  outside GATEWAY_WEBHOOK_REPLAY_WINDOW_S, checked first.
- 413 for a body above GATEWAY_WEBHOOK_MAX_BODY_BYTES; 422 for a verified body that is not an
  event (only after the signature, so the schema is no oracle for unsigned probes).
- 404 `not_configured` when OURA_WEBHOOK_VERIFICATION_TOKEN is unset: there is no receiver.
- 503 when Kafka did not take the event: Oura retries.
Oura retries 4xx too (about ten times over an hour); a duplicate is harmless downstream."""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from gateway.deps import Webhooks, WebhooksDep
from gateway.errors import ApiError, describe_validation
from gateway.metrics import WEBHOOK_ACCEPTED, WEBHOOK_REJECTED, WEBHOOK_REQUESTS
from gateway.routes import error_responses
from gateway.settings import GatewaySettings
from gateway.webhooks import EventPublisher, data_type_label, delivery_moment, is_fresh
from oura_connection import users_of_oura_account
from schemas.webhooks import WebhookEvent, verify

router = APIRouter(prefix="/webhooks", tags=["oura webhooks"])
log = logging.getLogger("gateway.webhooks")

NOT_VERIFIED = "the delivery is not verified: signature, or the user it names, not accepted"


class OuraWebhookDelivery(BaseModel):
    """The body Oura posts (OURA_API_V2.md §4.3). Fields Oura may add later are ignored, so a
    new field never makes every delivery fail; a data type the platform does not collect is
    accepted (the fetcher counts and skips it)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    event_type: Literal["create", "update", "delete"]
    data_type: str = Field(pattern=r"^[A-Za-z0-9_]{1,64}$")
    object_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,256}$")
    """Part of the fetch URL's path: no slash, no query."""
    event_time: AwareDatetime = Field(strict=False)
    user_id: str = Field(min_length=1, max_length=256)


class Challenge(BaseModel):
    challenge: str


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    delivery_id: str


def _reject(status: int, code: str, detail: str, reason: str) -> ApiError:
    WEBHOOK_REJECTED.labels(reason).inc()
    log.info("webhook refused", extra={"reason": reason})
    return ApiError(status, code, detail)


def _settings_or_503(webhooks: Webhooks) -> GatewaySettings:
    settings = webhooks.settings
    if not settings.webhooks_enabled:
        raise _reject(
            404, "not_configured", "webhooks are not configured on this server", "not_configured"
        )
    return settings


@router.get("/oura", response_model=Challenge, responses=error_responses(401, 404, 422, 503))
async def verification_handshake(
    webhooks: WebhooksDep,
    verification_token: Annotated[str, Query(max_length=1024)],
    challenge: Annotated[str, Query(min_length=1, max_length=1024)],
) -> Challenge:
    """Oura's subscription handshake: echo `challenge` when `verification_token` is ours."""
    WEBHOOK_REQUESTS.labels("handshake").inc()
    settings = _settings_or_503(webhooks)
    expected = settings.oura_webhook_verification_token.get_secret_value().encode()
    if not hmac.compare_digest(verification_token.encode(), expected):
        raise _reject(
            401,
            "invalid_verification_token",
            "the verification token is not this server's",
            "bad_verification_token",
        )
    return Challenge(challenge=challenge)


@router.post(
    "/oura",
    response_model=Accepted,
    responses=error_responses(401, 404, 413, 422, 503),
)
async def receive_delivery(request: Request, webhooks: WebhooksDep) -> JSONResponse:
    """One Oura event: verified, then published for the webhook fetcher; answered at once."""
    WEBHOOK_REQUESTS.labels("event").inc()
    settings = _settings_or_503(webhooks)
    body = await request.body()
    if len(body) > settings.webhook_max_body_bytes:
        raise _reject(
            413,
            "payload_too_large",
            f"a webhook event is at most {settings.webhook_max_body_bytes} bytes",
            "too_large",
        )
    sent_at = delivery_moment(request.headers.get("x-oura-timestamp"))
    if sent_at is None or not is_fresh(sent_at, settings.webhook_replay_window_s):
        raise _reject(
            401,
            "stale_timestamp",
            "x-oura-timestamp is missing or outside the replay window",
            "stale_timestamp",
        )
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = None
    form = verify(
        settings.oura_client_secret.get_secret_value(),
        request.headers["x-oura-timestamp"],
        body,
        parsed,
        request.headers.get("x-oura-signature", ""),
    )
    if form is None:
        raise _reject(401, "not_verified", NOT_VERIFIED, "bad_signature")
    delivery = _delivery_of(parsed)
    users = await users_of_oura_account(webhooks.pool, delivery.user_id)
    if not users:
        raise _reject(401, "not_verified", NOT_VERIFIED, "unknown_user")
    delivery_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    events = [
        WebhookEvent(
            user_id=str(user),
            oura_user_id=delivery.user_id,
            event_type=delivery.event_type,
            data_type=delivery.data_type,
            object_id=delivery.object_id,
            event_time=delivery.event_time,
            received_at=now,
            delivery_timestamp=sent_at,
            signature_form=form,
            delivery_id=delivery_id,
        )
        for user in users
    ]
    await _publish(request, events)
    WEBHOOK_ACCEPTED.labels(delivery.event_type, data_type_label(delivery.data_type)).inc()
    log.info(
        "webhook accepted",
        extra={
            "delivery_id": delivery_id,
            "event_type": delivery.event_type,
            "data_type": delivery.data_type,
            "users": len(users),
            "signature_form": form,
        },
    )
    return JSONResponse(Accepted(delivery_id=delivery_id).model_dump())


def _delivery_of(parsed: Any) -> OuraWebhookDelivery:
    if not isinstance(parsed, dict):
        raise _reject(
            422, "validation_error", "body: expected a JSON object (an Oura event)", "malformed"
        )
    try:
        return OuraWebhookDelivery.model_validate(parsed)
    except ValidationError as exc:
        detail = describe_validation([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])
        raise _reject(422, "validation_error", detail, "malformed") from None


async def _publish(request: Request, events: list[WebhookEvent]) -> None:
    publisher: EventPublisher | None = getattr(request.app.state, "webhook_publisher", None)
    if publisher is None:
        raise _reject(503, "unavailable", "the event queue is not running", "kafka_unavailable")
    try:
        await publisher.publish(events)
    except Exception as exc:  # aiokafka raises many types; Oura retries a 503
        log.warning("webhook event not published", extra={"error": f"{type(exc).__name__}"})
        raise _reject(
            503, "unavailable", "the event could not be queued; retry", "kafka_unavailable"
        ) from None
