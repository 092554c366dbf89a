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

from gateway.producer import SharedProducer
from schemas.data_types import BY_NAME
from schemas.keys import user_key
from schemas.topics import WEBHOOK_EVENTS
from schemas.webhooks import WebhookEvent, encode_webhook_event

log = logging.getLogger("gateway.webhooks")

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


PUBLISH_TIMEOUT_S = 5.0
"""Oura waits 10 s for an answer; a broker slower than this gets a 503 (retried by Oura) rather
than a delivery that times out."""


def data_type_label(data_type: str) -> str:
    return data_type if data_type in BY_NAME else "other"


class EventPublisher:
    """Webhook events onto their topic through the gateway's one producer; `publish` returns
    once the broker has every event of the delivery, and raises (the receiver answers 503, which
    Oura retries) when the broker does not answer within PUBLISH_TIMEOUT_S."""

    def __init__(self, producer: SharedProducer) -> None:
        self.topic = f"{producer.settings.topic_prefix}{WEBHOOK_EVENTS}"
        self._producer = producer

    async def publish(self, events: list[WebhookEvent]) -> None:
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            producer = await self._producer.get()
            futures: list[Any] = [
                await producer.send(self.topic, encode_webhook_event(e), key=user_key(e.user_id))
                for e in events
            ]
            for future in futures:
                await future
