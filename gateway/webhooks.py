"""The webhook receiver's machinery: the producer that puts verified events on
`oura.webhook.events`, the delivery checks, and their metrics. The route
(gateway/routes/webhooks.py) only strings these together."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter

from schemas.data_types import BY_NAME
from schemas.keys import partition_by_user, user_key
from schemas.settings import KafkaSettings
from schemas.topics import WEBHOOK_EVENTS
from schemas.webhooks import WebhookEvent, encode_webhook_event

log = logging.getLogger("gateway.webhooks")

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

_MS_THRESHOLD = 100_000_000_000
"""Epoch values above this are milliseconds: in seconds it is the year 5138, in milliseconds
1973. Oura's samples send seconds; both are taken."""


def delivery_moment(header: str | None) -> datetime | None:
    """The x-oura-timestamp header as a moment: epoch seconds or milliseconds (fractions
    allowed); None when it is missing or not a finite number."""
    if not header:
        return None
    try:
        value = float(header.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    seconds = value / 1000 if value > _MS_THRESHOLD else value
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def is_fresh(moment: datetime, window_s: float, now: float | None = None) -> bool:
    """Within `window_s` of now, either way (clocks drift both ways)."""
    return abs((now if now is not None else time.time()) - moment.timestamp()) <= window_s


def data_type_label(data_type: str) -> str:
    return data_type if data_type in BY_NAME else "other"


class EventPublisher:
    """An idempotent acks=all producer, started and stopped with the app's lifespan; `publish`
    returns once the broker has every event of the delivery."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.topic = f"{settings.topic_prefix}{WEBHOOK_EVENTS}"
        self._producer = AIOKafkaProducer(
            **settings.client_kwargs(),
            acks="all",
            enable_idempotence=True,
            # A delivery is one or two small records waiting for its answer: nothing to batch.
            linger_ms=0,
            request_timeout_ms=5_000,
            partitioner=partition_by_user,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, events: list[WebhookEvent]) -> None:
        futures: list[Any] = [
            await self._producer.send(self.topic, encode_webhook_event(e), key=user_key(e.user_id))
            for e in events
        ]
        for future in futures:
            await future


async def start_publisher(
    settings: KafkaSettings, state: Any, started: asyncio.Event, *, retry_s: float = 5.0
) -> None:
    """Start the producer and set `state.webhook_publisher`; while Kafka does not answer, keep
    trying (the rest of the API does not wait for Kafka, and deliveries get 503 meanwhile, which
    Oura retries). Run it as a task; cancelling it stops a producer it started."""
    while True:
        publisher = EventPublisher(settings)
        try:
            await publisher.start()
        except Exception as exc:  # aiokafka raises several unrelated types for "unreachable"
            log.warning(
                "webhook producer not started; retrying", extra={"error": type(exc).__name__}
            )
            await publisher.stop()
            await asyncio.sleep(retry_s)
            continue
        state.webhook_publisher = publisher
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            state.webhook_publisher = None
            await publisher.stop()
