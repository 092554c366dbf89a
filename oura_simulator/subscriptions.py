"""Webhook subscriptions as Oura keeps them (OURA_API_V2.md §4.1, §4.4): per OAuth client, one per
(event_type, data_type), each with an expiration_time after which nothing is delivered.

Choices where Oura's behaviour is unconfirmed: the lifetime granted per create or renew is
`SimulatorConfig.webhook_subscription_ttl_s` (7 days by default) on the simulator's clock; an
expired subscription stays listed with its past expiration_time, still holds its (event_type,
data_type) slot and can be renewed (or deleted) — it just receives nothing."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any


class SlotTaken(Exception):
    def __init__(self, existing: Subscription) -> None:
        super().__init__(existing.id)
        self.existing = existing


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    client_id: str
    callback_url: str
    event_type: str
    data_type: str
    expiration_time: datetime
    verification_token: str = field(repr=False)

    def model(self) -> dict[str, Any]:
        """Oura's WebhookSubscriptionModel."""
        return {
            "id": self.id,
            "callback_url": self.callback_url,
            "event_type": self.event_type,
            "data_type": self.data_type,
            "expiration_time": self.expiration_time.isoformat(),
        }

    def active(self, now: datetime) -> bool:
        return now < self.expiration_time


class Subscriptions:
    """Every client's subscriptions. Thread-safe; values are immutable snapshots."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._by_id: dict[str, Subscription] = {}

    def all(self, client_id: str | None = None) -> list[Subscription]:
        with self._lock:
            return [s for s in self._by_id.values() if client_id in (None, s.client_id)]

    def get(self, client_id: str, subscription_id: str) -> Subscription | None:
        with self._lock:
            found = self._by_id.get(subscription_id)
        return found if found is not None and found.client_id == client_id else None

    def exists(self, subscription_id: str) -> Subscription | None:
        with self._lock:
            return self._by_id.get(subscription_id)

    def create(
        self,
        client_id: str,
        *,
        callback_url: str,
        event_type: str,
        data_type: str,
        verification_token: str,
        now: datetime,
    ) -> Subscription:
        """Raises SlotTaken when the client already has this (event_type, data_type)."""
        subscription = Subscription(
            id=str(uuid.uuid4()),
            client_id=client_id,
            callback_url=callback_url,
            event_type=event_type,
            data_type=data_type,
            expiration_time=now + timedelta(seconds=self.ttl_s),
            verification_token=verification_token,
        )
        with self._lock:
            self._check_slot(subscription)
            self._by_id[subscription.id] = subscription
        return subscription

    def update(self, subscription: Subscription, **changes: Any) -> Subscription:
        """Replace fields of a stored subscription (SlotTaken if it would collide); KeyError if
        it was deleted meanwhile."""
        updated = replace(subscription, **changes)
        with self._lock:
            if subscription.id not in self._by_id:
                raise KeyError(subscription.id)
            self._check_slot(updated)
            self._by_id[updated.id] = updated
        return updated

    def renew(self, subscription: Subscription, now: datetime) -> Subscription:
        return self.update(subscription, expiration_time=now + timedelta(seconds=self.ttl_s))

    def delete(self, subscription_id: str) -> bool:
        with self._lock:
            return self._by_id.pop(subscription_id, None) is not None

    def matching(self, event_type: str, data_type: str, now: datetime) -> list[Subscription]:
        """The active subscriptions an event of this kind goes to."""
        with self._lock:
            return [
                s
                for s in self._by_id.values()
                if s.event_type == event_type and s.data_type == data_type and s.active(now)
            ]

    def _check_slot(self, candidate: Subscription) -> None:
        for other in self._by_id.values():
            if (
                other.id != candidate.id
                and other.client_id == candidate.client_id
                and other.event_type == candidate.event_type
                and other.data_type == candidate.data_type
            ):
                raise SlotTaken(other)
