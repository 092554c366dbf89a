"""Oura webhook events as they travel on `oura.webhook.events` (schemas/avro/webhook_event.avsc):
the one place an event becomes bytes and back, plus Oura's signature scheme, which the gateway
checks and the simulator (and tests) sign with."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from schemas.codec import Codec, default_codec
from schemas.data_types import BY_NAME, DataType
from schemas.records import InvalidRecord, schema_name

WEBHOOK_FILE = "webhook_event"
EventType = Literal["create", "update", "delete"]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
OuraDataType = Literal[
    "tag",
    "enhanced_tag",
    "workout",
    "session",
    "sleep",
    "daily_sleep",
    "daily_readiness",
    "daily_activity",
    "daily_spo2",
    "sleep_time",
    "rest_mode_period",
    "ring_configuration",
    "daily_stress",
    "daily_cardiovascular_age",
    "daily_resilience",
    "vo2_max",
    "meal",
]
OURA_DATA_TYPES: tuple[OuraDataType, ...] = get_args(OuraDataType)
"""Oura's ExtApiV2DataType (API 1.37): what a webhook subscription may name, the simulator
accepts and the collector subscribes to (where the platform collects the type)."""
SignatureForm = Literal["raw", "compact"]


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    user_id: str
    oura_user_id: str
    event_type: str
    data_type: str
    object_id: str
    event_time: datetime
    received_at: datetime
    delivery_timestamp: datetime
    signature_form: str
    delivery_id: str

    @property
    def platform_type(self) -> DataType | None:
        """The collected data type the event names; None for a type the platform does not
        collect (Oura adds types)."""
        return BY_NAME.get(self.data_type)


def _millis(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("webhook event times must be timezone-aware")
    return int(moment.timestamp() * 1000)


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromtimestamp(value / 1000, UTC)


_TIMES = ("event_time", "received_at", "delivery_timestamp")


def encode_webhook_event(event: WebhookEvent, codec: Codec | None = None) -> bytes:
    datum: dict[str, Any] = {
        "user_id": event.user_id,
        "oura_user_id": event.oura_user_id,
        "event_type": event.event_type,
        "data_type": event.data_type,
        "object_id": event.object_id,
        "signature_form": event.signature_form,
        "delivery_id": event.delivery_id,
    }
    for name in _TIMES:
        datum[name] = _millis(getattr(event, name))
    return (codec or default_codec()).encode(schema_name(WEBHOOK_FILE), datum)


def decode_webhook_event(data: bytes, codec: Codec | None = None) -> WebhookEvent:
    """Raises a CodecError subclass for anything that is not a webhook event."""
    name, datum = (codec or default_codec()).decode(data)
    if name != schema_name(WEBHOOK_FILE):
        raise InvalidRecord(f"{name} is not a webhook event")
    if not datum.get("user_id"):
        raise InvalidRecord("webhook event has no user_id")
    return WebhookEvent(**{**datum, **{n: _moment(datum[n]) for n in _TIMES}})


def sign(secret: str, timestamp: str, body: str | bytes) -> str:
    """Oura's signature: HMAC-SHA256 keyed with the client secret over the timestamp header
    followed by the body, upper-case hex (OURA_API_V2.md §4.3)."""
    payload = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), timestamp.encode() + payload, hashlib.sha256)
    return digest.hexdigest().upper()


def compact(parsed: Any) -> bytes:
    """The body as Oura's sample code signs it: JavaScript's JSON.stringify of the parsed body
    (compact, key order kept, non-ASCII as is)."""
    return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()


def verify(
    secret: str, timestamp: str, raw_body: bytes, parsed: Any, signature: str
) -> SignatureForm | None:
    """Which form of the body `signature` signs: the raw bytes first, then the compact
    re-serialisation (whether Oura signs its exact bytes is unconfirmed); None when neither.
    Constant-time comparisons."""
    given = signature.strip().upper().encode()
    if hmac.compare_digest(sign(secret, timestamp, raw_body).encode(), given):
        return "raw"
    if parsed is not None and hmac.compare_digest(
        sign(secret, timestamp, compact(parsed)).encode(), given
    ):
        return "compact"
    return None
